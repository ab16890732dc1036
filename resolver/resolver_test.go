package resolver

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestConcurrentChecksShareOneDiscovery(t *testing.T) {
	// Ten thousand goroutines on a busy machine can starve the one that
	// reads the answer: generous timeouts keep the test about sharing.
	w, r := newTest(t, func(o *Options) { o.DNSTimeout, o.FetchTimeout = 3*time.Second, 10*time.Second })
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	// Slow the TXT answer so that every caller arrives while it is pending.
	w.Fault("_mta-sts."+domain, testserver.DNSDelay(100*time.Millisecond))
	w.ResetQueries()
	const n = 10000
	var wg sync.WaitGroup
	var wrong atomic.Int32
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d, err := r.Check(context.Background(), domain, goodMX)
			if err != nil || d.Action != Deliver {
				if wrong.Add(1) == 1 {
					t.Logf("first wrong: %v, %v", d, err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if wrong.Load() != 0 {
		t.Errorf("%d of %d checks did not deliver", wrong.Load(), n)
	}
	if q := w.Queries("_mta-sts."+domain, dns.TypeTXT); q != 1 {
		t.Errorf("%d TXT queries, want 1", q)
	}
	if f := w.Fetches(domain); f != 1 {
		t.Errorf("%d fetches, want 1", f)
	}
}

func TestCancelledCallerLeavesSharedWork(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	w.Fault("mta-sts."+domain, testserver.SlowHeaders(300*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var (
		wg       sync.WaitGroup
		patient  Decision
		errPatnt error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		patient, errPatnt = r.Check(context.Background(), domain, goodMX)
	}()
	time.Sleep(10 * time.Millisecond) // let the patient caller start the work
	d, err := r.Check(ctx, domain, goodMX)
	if err != nil || d.Action != DeliverWithoutSTS || !errors.Is(d.Err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: %+v, %v; want DeliverWithoutSTS, its deadline a failed fetch", d, err)
	}
	wg.Wait()
	if errPatnt != nil || patient.Action != Deliver || patient.Source != SourceFetched {
		t.Fatalf("patient caller: %+v, %v", patient, errPatnt)
	}
	if f := w.Fetches(domain); f != 1 {
		t.Errorf("%d fetches, want 1", f)
	}
}

func TestCloseStopsWorkInFlight(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	w.Fault("mta-sts."+domain, testserver.SlowHeaders(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := r.Check(context.Background(), domain, goodMX)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	r.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Check did not return after Close")
	}
	if _, err := r.Check(context.Background(), domain, goodMX); !errors.Is(err, ErrClosed) {
		t.Errorf("Check after Close: %v, want ErrClosed", err)
	}
	if _, err := r.Lookup(context.Background(), domain); !errors.Is(err, ErrClosed) {
		t.Errorf("Lookup after Close: %v, want ErrClosed", err)
	}
	r.Close() // idempotent
}

func TestFetchBackoffPerID(t *testing.T) {
	clk := newFakeClock()
	w, r := newTest(t, func(o *Options) { o.Clock = clk.Now })
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "7"})
	w.Fault("mta-sts."+domain, testserver.Status(500))
	ctx := context.Background()
	check := func(wantFetches int, what string) Decision {
		t.Helper()
		d, err := r.Check(ctx, domain, goodMX)
		if err != nil {
			t.Fatal(err)
		}
		if f := w.Fetches(domain); f != wantFetches {
			t.Fatalf("%s: %d fetches, want %d", what, f, wantFetches)
		}
		return d
	}
	d := check(1, "first failure")
	if d.Action != DeliverWithoutSTS || d.Result != "sts-policy-fetch-error" || d.PolicyID != "7" {
		t.Fatalf("got %+v", d)
	}
	clk.Advance(time.Minute)
	d = check(1, "T29.1: within five minutes, same id")
	if d.Action != DeliverWithoutSTS || d.Result != "sts-policy-fetch-error" {
		t.Fatalf("during backoff: %+v", d)
	}
	clk.Advance(4 * time.Minute)
	check(2, "after five minutes")
	w.SetPolicy(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "8"})
	clk.Advance(time.Minute)
	check(3, "T29.2: a new id is fetched at once")
	w.ClearFaults()
	clk.Advance(time.Minute)
	d = check(3, "backoff for id 8")
	w.SetPolicy(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "9"})
	d = check(4, "id 9")
	if d.Action != Deliver || d.PolicyID != "9" {
		t.Fatalf("after recovery: %+v", d)
	}
}

func TestInvalidInput(t *testing.T) {
	_, r := newTest(t)
	ctx := context.Background()
	for _, tc := range []struct{ domain, mx string }{
		{"", "mx.example.test"},
		{"localhost", "mx.example.test"},
		{"exa mple.test", "mx.example.test"},
		{"-bad.test", "mx.example.test"},
		{"a.test..", "mx.example.test"},
	} {
		_, err := r.Check(ctx, tc.domain, tc.mx)
		var de *DomainError
		if !errors.As(err, &de) || !errors.Is(err, ErrInvalidDomain) {
			t.Errorf("Check(%q, %q) = %v, want a *DomainError", tc.domain, tc.mx, err)
		}
	}
}

func TestMXThatIsNoHostNameMatchesNothing(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	for _, mx := range []string{"", "[192.0.2.1]", "192.0.2.1", "mx1", "mx1.example.test.."} {
		d, err := r.Check(context.Background(), domain, mx)
		if err != nil || d.Action != Refuse || d.Result != validate.ResultValidationFailure {
			t.Errorf("Check(%q) = %+v, %v; want Refuse", mx, d, err)
		}
	}
	d, err := r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != Deliver || !d.RequireTLS {
		t.Errorf("matching MX under enforce: %+v, %v; want Deliver with RequireTLS", d, err)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":     "example.com",
		"EXAMPLE.COM.":    "example.com",
		"Mx1.Example.Com": "mx1.example.com",
		"bücher.example":  "xn--bcher-kva.example",
		"BÜCHER.example.": "xn--bcher-kva.example",
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Normalize("mx1.example.com") }); n != 0 {
		t.Errorf("Normalize of a normal name allocates %v times", n)
	}
}

func TestInputsNormalised(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	d, err := r.Check(context.Background(), "EXAMPLE.test.", "MX1.Example.Test.")
	if err != nil || d.Action != Deliver || d.Domain != domain || d.MX != goodMX {
		t.Fatalf("got %+v, %v", d, err)
	}
}

func TestMaxAgeZeroIsNotCached(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 0})
	for i := 1; i <= 2; i++ {
		d, err := r.Check(context.Background(), domain, goodMX)
		if err != nil || d.Action != Deliver || d.Source != SourceFetched {
			t.Fatalf("check %d: %+v, %v", i, d, err)
		}
		if f := w.Fetches(domain); f != i {
			t.Fatalf("check %d: %d fetches", i, f)
		}
	}
}

func TestCNAMEDelegation(t *testing.T) {
	// T10.1: the record is delegated by CNAME; the policy still comes from
	// mta-sts.<policy domain>.
	w, r := newTest(t)
	w.AddDomain("provider.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.provider.test"}, MaxAge: 86400, ID: "9"})
	w.AddDomain("user.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.provider.test"}, MaxAge: 86400, ID: "1"})
	w.RemoveName("_mta-sts.user.test")
	w.SetCNAME("_mta-sts.user.test", "_mta-sts.provider.test")
	w.Fault("_mta-sts.user.test", testserver.CNAMEOnly)
	e, err := r.Lookup(context.Background(), "user.test")
	if err != nil || e == nil || e.ID != "9" {
		t.Fatalf("got %+v, %v", e, err)
	}
	if w.Fetches("user.test") != 1 || w.Fetches("provider.test") != 0 {
		t.Errorf("fetched user %d, provider %d", w.Fetches("user.test"), w.Fetches("provider.test"))
	}
}

func TestCNAMELoopIsNoPolicy(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	w.RemoveName("_mta-sts." + domain)
	w.SetCNAME("_mta-sts."+domain, "a.loop.test")
	w.SetCNAME("a.loop.test", "b.loop.test")
	w.SetCNAME("b.loop.test", "a.loop.test")
	for _, n := range []string{"_mta-sts." + domain, "a.loop.test", "b.loop.test"} {
		w.Fault(n, testserver.CNAMEOnly)
	}
	d, err := r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != DeliverWithoutSTS {
		t.Fatalf("got %+v, %v", d, err)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"example.com", "EXAMPLE.COM.", "bücher.example", "a..b", "-a.b", "a-.b", "a.b-", "x", "xn--bcher-kva.example", "a_b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			return
		}
		again, err := Normalize(n)
		if err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, n, n, again, err)
		}
		if _, ok := normalizeASCII(n); !ok {
			t.Fatalf("Normalize(%q) = %q, which is not a normal name", s, n)
		}
	})
}

func TestTLSConfigReportsPerSession(t *testing.T) {
	var events atomic.Int32
	w, r := newTest(t, func(o *Options) {
		o.Events.TLSResult = func(domain, mx, id string, err error) { events.Add(1) }
	})
	w.AddDomain(domain, testserver.Policy{Mode: "testing", MX: []string{goodMX}, MaxAge: 86400})
	d, err := r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != Deliver {
		t.Fatalf("got %+v, %v", d, err)
	}
	var got error
	reported := false
	cfg := d.TLSConfigReport(&tls.Config{}, func(err error) { got, reported = err, true })
	if cfg.ServerName != goodMX || !cfg.InsecureSkipVerify || cfg.VerifyConnection == nil {
		t.Fatalf("config: ServerName %q InsecureSkipVerify %v", cfg.ServerName, cfg.InsecureSkipVerify)
	}
	// A handshake that presents no certificate: under testing it goes on,
	// and both the session's hook and the resolver's event hear of it.
	if err := cfg.VerifyConnection(tls.ConnectionState{Version: tls.VersionTLS13}); err != nil {
		t.Fatalf("testing mode failed the handshake: %v", err)
	}
	if !reported || validate.ResultOf(got) != validate.ResultValidationFailure || events.Load() != 1 {
		t.Fatalf("report %v (called %v), events %d", got, reported, events.Load())
	}
}

func TestIPv6OnlyPolicyHost(t *testing.T) {
	// A world on ::1 publishes AAAA records only: the fetch falls back to
	// IPv6 when there is no IPv4 address.
	w := testserver.Start(t, testserver.Options{IP: netip.IPv6Loopback()})
	r, err := New(testOptions(w))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	if q := w.Queries("mta-sts."+domain, dns.TypeA); q != 0 {
		t.Fatalf("%d A queries before the test", q)
	}
	d, err := r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != Deliver || d.Source != SourceFetched {
		t.Fatalf("got %+v, %v", d, err)
	}
	if w.Queries("mta-sts."+domain, dns.TypeAAAA) != 1 {
		t.Errorf("AAAA queries: %d", w.Queries("mta-sts."+domain, dns.TypeAAAA))
	}
}

func TestOverrides(t *testing.T) {
	w, r := newTest(t, func(o *Options) {
		o.Overrides = map[string]Override{"Skipped.Test.": Skip, "forced.test": ForceEnforce}
	})
	w.AddDomain("skipped.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.skipped.test"}, MaxAge: 86400})
	w.AddDomain("forced.test", testserver.Policy{Mode: "testing", MX: []string{"mx.forced.test"}, MaxAge: 86400})
	ctx := context.Background()
	d, err := r.Check(ctx, "skipped.test", "evil.example.net")
	if err != nil || d.Action != DeliverWithoutSTS || d.Reason != ReasonSkipped {
		t.Fatalf("skipped: %+v, %v", d, err)
	}
	if n := w.Queries("_mta-sts.skipped.test", dns.TypeTXT); n != 0 {
		t.Fatalf("skipped domain looked up %d times", n)
	}
	d, err = r.Check(ctx, "forced.test", "evil.example.net")
	if err != nil || d.Action != Refuse || d.Mode != policy.ModeEnforce {
		t.Fatalf("forced, other MX: %+v, %v", d, err)
	}
	d, err = r.Check(ctx, "forced.test", "mx.forced.test")
	if err != nil || d.Action != Deliver || !d.RequireTLS {
		t.Fatalf("forced, matching MX: %+v, %v", d, err)
	}
	// The TLS configuration enforces too: a handshake without a
	// certificate fails.
	if err := d.TLSConfig(nil).VerifyConnection(tls.ConnectionState{Version: tls.VersionTLS13}); err == nil {
		t.Fatal("forced enforce: the handshake check passed without a certificate")
	}
	if d.Policy.Mode != policy.ModeTesting {
		t.Fatal("the cached policy was modified")
	}
	if _, err := New(Options{DNS: []string{"127.0.0.1:1"}, Overrides: map[string]Override{"x.test": 9}}); err == nil {
		t.Fatal("an unknown override was accepted")
	}
}

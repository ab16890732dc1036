package resolver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// Tests of the findings of a review of the resolver: each names the rule.

func TestTLSTarpitLeavesNothingAfterClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w := testserver.Start(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	w.Fault("mta-sts."+domain, testserver.HandshakeStall)
	opts := testOptions(w)
	opts.FetchTimeout = 200 * time.Millisecond
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != DeliverWithoutSTS || d.Result != "sts-policy-fetch-error" {
		t.Fatalf("got %+v, %v", d, err)
	}
	r.Close()
	w.Close()
}

// connectProxy is an HTTP CONNECT proxy that sends every tunnel to to.
type connectProxy struct {
	l       net.Listener
	to      string
	tunnels atomic.Int32
	wg      sync.WaitGroup
}

func startProxy(t *testing.T, to string) *connectProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{l: l, to: to}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	up, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer up.Close()
	up.SetDeadline(time.Now().Add(5 * time.Second))
	p.tunnels.Add(1)
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go io.Copy(up, c)
	io.Copy(c, up)
}

func TestProxyIsUsed(t *testing.T) {
	w := testserver.Start(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	p := startProxy(t, w.HTTPSAddr())
	opts := testOptions(w)
	proxyURL := &url.URL{Scheme: "http", Host: p.l.Addr().String()}
	opts.Proxy = func(*http.Request) (*url.URL, error) { return proxyURL, nil }
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != Deliver || d.Source != SourceFetched {
		t.Fatalf("through the proxy: %+v, %v", d, err)
	}
	if p.tunnels.Load() != 1 {
		t.Fatalf("%d tunnels through the proxy, want 1", p.tunnels.Load())
	}
}

func TestStoryRefreshWhileRecordBlocked(t *testing.T) {
	// RFC 8461 section 10.2: a policy near expiry is refetched even when
	// an attacker blocks its TXT record, so that it does not lapse.
	s := newStory(t)
	s.publish("enforce", 2*86400, "1")
	s.check(goodMX)
	s.w.Fault("_mta-sts."+domain, testserver.NXDomain)
	s.clk.Advance(36 * time.Hour) // 12 hours left, past half
	if n := s.r.refreshDue(context.Background()); n != 1 {
		t.Fatalf("started %d refreshes", n)
	}
	s.idle()
	if f := s.w.Fetches(domain); f != 2 {
		t.Fatalf("%d fetches, want the refetch", f)
	}
	s.clk.Advance(24 * time.Hour) // the first fetch would have expired
	s.expect(s.check(otherMX), Refuse, "1", SourceCache, SourceFetched)
}

func TestStoryPolicyExpiringDuringUpdateIsNotApplied(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 600, "1")
	s.check(goodMX)
	s.clk.Advance(9*time.Minute + 50*time.Second)
	s.w.Fault("_mta-sts."+domain, testserver.DNSDelay(200*time.Millisecond), testserver.ServFail)
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.clk.Advance(time.Minute) // the policy expires while the TXT check runs
	}()
	d, err := s.r.Check(context.Background(), domain, otherMX)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action == Refuse || d.Policy != nil {
		t.Fatalf("an expired policy applied: %+v", d)
	}
}

func TestRefreshIsNotAbsorbedByABackgroundRevalidation(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	s.w.Fault("_mta-sts."+domain, testserver.DNSDelay(100*time.Millisecond))
	s.clk.Advance(6 * time.Minute)
	s.r.Check(context.Background(), domain, goodMX) // starts a revalidation
	e, err := s.r.Refresh(context.Background(), domain)
	if err != nil || e.Source != SourceFetched {
		t.Fatalf("Refresh: %+v, %v", e, err)
	}
	s.idle()
	if f := s.w.Fetches(domain); f != 2 {
		t.Fatalf("%d fetches, want 2", f)
	}
}

func TestBackoffCausesNoRevalidationStorm(t *testing.T) {
	s := newStory(t, func(o *Options) { o.RevalidateInterval = time.Minute })
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	s.publish("enforce", 86400, "2")
	s.w.Fault("mta-sts."+domain, testserver.Status(500))
	s.clk.Advance(2 * time.Minute)
	s.check(goodMX) // revalidation: fetch of id 2 fails
	s.w.ResetQueries()
	for range 50 {
		s.check(goodMX)
	}
	if q := s.w.Queries("_mta-sts."+domain, dns.TypeTXT); q > 1 {
		t.Fatalf("%d TXT queries during the backoff, within one revalidation interval", q)
	}
}

func TestHookMayCallTheResolver(t *testing.T) {
	var r *Resolver
	var inner atomic.Int32
	w, r0 := newTest(t, func(o *Options) {
		o.Events.FetchFailed = func(d, id string, err error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := r.Lookup(ctx, d); err != nil {
				inner.Add(1)
			}
		}
	})
	r = r0
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	w.Fault("mta-sts."+domain, testserver.Status(500))
	done := make(chan struct{})
	go func() {
		r.Check(context.Background(), domain, goodMX)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("a hook calling Lookup deadlocked")
	}
	if inner.Load() != 1 {
		t.Fatalf("the hook's Lookup: %d errors, want 1 (the fetch error)", inner.Load())
	}
}

func TestStoryNonePolicyRefreshFailureIsNotReported(t *testing.T) {
	s := newStory(t)
	s.publish("none", 86400, "1")
	s.check(goodMX)
	s.ev.take()
	s.publish("none", 86400, "2")
	s.w.Fault("mta-sts."+domain, testserver.Status(500))
	s.clk.Advance(6 * time.Minute)
	s.check(goodMX)
	s.w.RemovePolicy(domain)
	s.clk.Advance(6 * time.Minute)
	s.check(goodMX)
	s.events()
}

func TestCloseDuringFetchIsNoFailure(t *testing.T) {
	ev := &events{}
	w, r := newTest(t, func(o *Options) { o.Events = ev.hooks() })
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	w.Fault("mta-sts."+domain, testserver.SlowHeaders(time.Hour))
	done := make(chan error, 1)
	go func() {
		d, err := r.Check(context.Background(), domain, goodMX)
		if err == nil && d.Result != "" {
			err = errors.New("reported " + string(d.Result))
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	r.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Check during Close: %v, want ErrClosed", err)
	}
	if got := ev.take(); len(got) != 0 {
		t.Fatalf("events at Close: %q", got)
	}
}

func TestStoryStaleClearsWhenTheFailedIDIsGone(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	s.publish("enforce", 86400, "2")
	s.w.Fault("mta-sts."+domain, testserver.Status(500))
	s.clk.Advance(6 * time.Minute)
	s.check(goodMX)
	s.expect(s.check(goodMX), Deliver, "1", SourceStale)
	s.publish("enforce", 86400, "1") // back to the cached id
	s.clk.Advance(6 * time.Minute)
	s.check(goodMX)
	s.expect(s.check(goodMX), Deliver, "1", SourceCache)
}

func TestNoPolicyIsRemembered(t *testing.T) {
	s := newStory(t)
	s.w.SetMX(domain, goodMX)
	for range 5 {
		if d := s.check(goodMX); d.Action != DeliverWithoutSTS {
			t.Fatalf("got %+v", d)
		}
	}
	if q, a := s.w.Queries("_mta-sts."+domain, dns.TypeTXT), s.w.Queries("mta-sts."+domain, dns.TypeA); q != 1 || a > 1 {
		t.Fatalf("%d TXT and %d A queries for 5 checks, want 1 and at most 1", q, a)
	}
	s.publish("enforce", 86400, "1")
	s.clk.Advance(DefaultNoPolicyTTL)
	if d := s.check(goodMX); d.Action != Deliver {
		t.Fatalf("after the TTL, a new policy: %+v", d)
	}
}

func TestRevalidationDoesNotPrefetchAddresses(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	s.w.ResetQueries()
	for range 3 {
		s.clk.Advance(6 * time.Minute)
		s.check(goodMX)
	}
	if q, a := s.w.Queries("_mta-sts."+domain, dns.TypeTXT), s.w.Queries("mta-sts."+domain, dns.TypeA); q != 3 || a != 0 {
		t.Fatalf("%d TXT and %d A queries for 3 revalidations, want 3 and 0", q, a)
	}
}

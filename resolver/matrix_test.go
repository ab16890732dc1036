package resolver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

const (
	domain  = "example.test"
	goodMX  = "mx1.example.test"
	otherMX = "evil.example.net"
)

// The matrix runs in parallel, one domain per case, each with its own MX.

// matrixFetchTimeout is the FetchTimeout of the matrix: long enough that a
// fetch that should succeed (or fail on its own account) does so on a
// loaded machine under -race, even for the gzip bomb. The slow faults are
// scaled against it: a stall outlasts it many times over, a slow answer
// that must succeed takes a tenth of the DNS deadline.
// matrixDNSTimeout is its DNSTimeout, likewise.
const (
	matrixFetchTimeout = 3 * time.Second
	matrixDNSTimeout   = time.Second
)

// fault is one way the world goes wrong for the domain.
type fault struct {
	name   string
	set    func(w *testserver.World, domain string)
	action Action              // with nothing cached, for a matching MX
	result validate.ResultType // with nothing cached
}

// stalls are the faults that make a check wait out a deadline: their cases
// sleep rather than compute, and run together (see TestFaultMatrix).
var stalls = map[string]bool{
	"txt_timeout":                 true,
	"slow_headers_past_deadline":  true,
	"trickled_body_past_deadline": true,
	"tls_handshake_stall":         true,
}

var faults = []fault{
	{"none", func(*testserver.World, string) {}, Deliver, ""},
	// The _mta-sts TXT lookup.
	{"txt_servfail", dnsFault("_mta-sts.", testserver.ServFail), Defer, ""},
	{"txt_refused", dnsFault("_mta-sts.", testserver.Refused), Defer, ""},
	{"txt_timeout", dnsFault("_mta-sts.", testserver.Drop), Defer, ""},
	{"txt_referral", dnsFault("_mta-sts.", testserver.Referral), Defer, ""},
	{"txt_lame", dnsFault("_mta-sts.", testserver.Lame), Defer, ""},
	{"txt_nxdomain", dnsFault("_mta-sts.", testserver.NXDomain), DeliverWithoutSTS, ""},
	{"txt_nodata", dnsFault("_mta-sts.", testserver.NoData), DeliverWithoutSTS, ""},
	{"txt_truncated_retried_over_tcp", dnsFault("_mta-sts.", testserver.Truncate), Deliver, ""},
	{"txt_slow_within_timeout", dnsFault("_mta-sts.", testserver.DNSDelay(matrixDNSTimeout/10)), Deliver, ""},
	{"txt_two_records", func(w *testserver.World, domain string) {
		w.SetTXT("_mta-sts."+domain, "v=STSv1; id=1", "v=STSv1; id=2")
	}, DeliverWithoutSTS, ""},
	{"txt_invalid_record", func(w *testserver.World, domain string) { w.SetTXT("_mta-sts."+domain, "v=STSv1; id=###") }, DeliverWithoutSTS, ""},
	// The policy host's address.
	{"host_servfail", dnsFault("mta-sts.", testserver.ServFail), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"host_nxdomain", dnsFault("mta-sts.", testserver.NXDomain), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"host_aaaa_servfail_a_works", dnsFault("mta-sts.", testserver.OnlyType{Type: dns.TypeAAAA, Fault: testserver.ServFail}), Deliver, ""},
	// HTTP.
	{"status_404", httpFault(testserver.Status(404)), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"status_500", httpFault(testserver.Status(500)), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"status_204", httpFault(testserver.Status(204)), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"redirect_301", httpFault(testserver.Redirect{Code: 301, Location: "https://mta-sts.other.test/.well-known/mta-sts.txt"}), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"redirect_307", httpFault(testserver.Redirect{Code: 307, Location: "https://mta-sts.example.test/.well-known/mta-sts.txt"}), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"content_type_html", httpFault(testserver.ContentType("text/html")), DeliverWithoutSTS, validate.ResultSTSPolicyInvalid},
	{"content_type_missing", httpFault(testserver.ContentType("")), DeliverWithoutSTS, validate.ResultSTSPolicyInvalid},
	{"content_type_params", httpFault(testserver.ContentType(`TEXT/Plain; Charset="UTF-8"; format=flowed`)), Deliver, ""},
	{"body_over_64k", httpFault(testserver.LargeBody(64<<10 + 1)), DeliverWithoutSTS, validate.ResultSTSPolicyInvalid},
	{"body_exactly_64k", httpFault(testserver.LargeBody(64 << 10)), Deliver, ""},
	// Twice the 64 KiB limit once inflated, a few hundred bytes on the
	// wire: the server compresses it quickly and the client stops reading
	// at the limit. (A bigger bomb proves nothing more and costs the
	// server its compression time before the first byte is sent.)
	{"gzip_bomb", httpFault(testserver.GzipBomb(128 << 10)), DeliverWithoutSTS, validate.ResultSTSPolicyInvalid},
	{"slow_headers_past_deadline", httpFault(testserver.SlowHeaders(5 * matrixFetchTimeout)), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	// The policy file has more than 50 bytes: at least 5 deadlines.
	{"trickled_body_past_deadline", httpFault(testserver.Trickle(matrixFetchTimeout / 10)), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"connection_reset", httpFault(testserver.ConnReset), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"invalid_policy", func(w *testserver.World, domain string) {
		w.SetPolicyBody(domain, "version: STSv1\nmode: Enforce\nmx: mx1."+domain+"\nmax_age: 86400\n")
	}, DeliverWithoutSTS, validate.ResultSTSPolicyInvalid},
	// TLS of the policy host.
	{"tls_legacy_only", httpFault(testserver.LegacyTLS), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"tls_handshake_stall", httpFault(testserver.HandshakeStall), DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
	{"cert_expired", httpFault(testserver.CertExpired), DeliverWithoutSTS, validate.ResultSTSWebPKIInvalid},
	{"cert_not_yet_valid", httpFault(testserver.CertNotYetValid), DeliverWithoutSTS, validate.ResultSTSWebPKIInvalid},
	{"cert_wrong_host", httpFault(testserver.CertWrongHost), DeliverWithoutSTS, validate.ResultSTSWebPKIInvalid},
	{"cert_cn_only", httpFault(testserver.CertCNOnly), DeliverWithoutSTS, validate.ResultSTSWebPKIInvalid},
	{"cert_untrusted", httpFault(testserver.CertUntrusted), DeliverWithoutSTS, validate.ResultSTSWebPKIInvalid},
	{"cert_self_signed", httpFault(testserver.CertSelfSigned), DeliverWithoutSTS, validate.ResultSTSWebPKIInvalid},
	{"cert_wildcard_valid", httpFault(testserver.CertWildcard), Deliver, ""},
}

// dnsFault breaks the DNS for prefix+domain.
func dnsFault(prefix string, f testserver.Fault) func(*testserver.World, string) {
	return func(w *testserver.World, domain string) { w.Fault(prefix+domain, f) }
}

// httpFault breaks the policy host (its HTTPS or its TLS).
func httpFault(f testserver.Fault) func(*testserver.World, string) {
	return func(w *testserver.World, domain string) { w.Fault("mta-sts."+domain, f) }
}

// TestFaultMatrix runs every fault of the world, under enforce and testing,
// for a matching and a non-matching MX, with nothing cached and with a valid
// policy cached before the fault, and checks the Decision. In the cached
// case the domain also publishes a new id, and the clock moves past the
// revalidation interval, so that the fault strikes the background TXT check
// and refetch: whatever fails, the cached policy must go on applying.
//
// The cases run in parallel, bounded by -parallel, except the stalls: they
// wait out a deadline without using the CPU, so they run all at once in
// one parallel subtest, "stalls", and cost one deadline, not one each.
func TestFaultMatrix(t *testing.T) {
	w, _ := newTest(t)
	type matrixCase struct {
		name, mode string
		f          fault
		cached     bool
	}
	var cases, stalled []matrixCase
	for _, mode := range []string{"enforce", "testing"} {
		for _, f := range faults {
			for _, cached := range []bool{false, true} {
				name := mode + "/" + f.name
				if cached {
					name += "/cached"
				}
				c := matrixCase{name, mode, f, cached}
				if stalls[f.name] {
					stalled = append(stalled, c)
				} else {
					cases = append(cases, c)
				}
			}
		}
	}
	t.Run("stalls", func(t *testing.T) {
		t.Parallel()
		var wg sync.WaitGroup
		for _, c := range stalled {
			wg.Go(func() { t.Run(c.name, func(t *testing.T) { runMatrixCase(t, w, c.mode, c.f, c.cached, c.name) }) })
		}
		wg.Wait()
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runMatrixCase(t, w, c.mode, c.f, c.cached, c.name)
		})
	}
}

// runMatrixCase is one case of TestFaultMatrix, on a domain of its own
// named after the case.
func runMatrixCase(t *testing.T, w *testserver.World, mode string, f fault, cached bool, name string) {
	domain := strings.ReplaceAll(strings.ReplaceAll(name, "_", "-"), "/", ".") + ".test"
	goodMX := "mx1." + domain
	p := testserver.Policy{Mode: mode, MX: []string{goodMX}, MaxAge: 86400}
	if _, err := w.AddDomain(domain, p); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	opts := testOptions(w)
	opts.Clock, opts.FetchTimeout, opts.DNSTimeout = clk.Now, matrixFetchTimeout, matrixDNSTimeout
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if cached {
		if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Action != Deliver {
			t.Fatalf("priming the cache: %+v, %v", d, err)
		}
		w.SetPolicy(domain, p) // a new id
		clk.Advance(DefaultRevalidateInterval + time.Second)
	}
	f.set(w, domain)
	check := func(mx string) Decision {
		t.Helper()
		d, err := r.Check(ctx, domain, mx)
		if err != nil {
			t.Fatal(err)
		}
		waitIdle(t, r)
		return d
	}
	good := check(goodMX)
	bad := check(otherMX)
	good2 := check(goodMX) // after the background refresh
	wantMode, _ := policy.ParseMode(mode)
	if cached || f.action == Deliver {
		// A valid policy applies: cached before the fault,
		// or fetched despite a harmless one.
		checkDecision(t, "matching mx", good, Deliver, "", wantMode)
		// RFC 8461 section 6: a failed refetch of the cached
		// policy is reported while the policy applies.
		checkDecision(t, "matching mx, after the refresh", good2, Deliver, f.result, wantMode)
		badAction := Refuse
		if mode == "testing" {
			badAction = Deliver
		}
		checkDecision(t, "other mx", bad, badAction, validate.ResultValidationFailure, wantMode)
		return
	}
	checkDecision(t, "matching mx", good, f.action, f.result, 0)
	checkDecision(t, "other mx", bad, f.action, f.result, 0)
}

// waitIdle waits (bounded: 10 s, more than a refresh under
// matrixFetchTimeout) until no background refresh of r runs.
func waitIdle(t testing.TB, r *Resolver) {
	t.Helper()
	for range 2000 {
		busy := false
		r.refreshing.Range(func(any, any) bool { busy = true; return false })
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("background refresh did not finish")
}

func checkDecision(t *testing.T, what string, d Decision, action Action, result validate.ResultType, mode policy.Mode) {
	t.Helper()
	if d.Action != action || d.Result != result || d.Mode != mode {
		t.Errorf("%s: got action %v result %q mode %v (reason %q, err %v); want %v %q %v",
			what, d.Action, d.Result, d.Mode, d.Reason, d.Err, action, result, mode)
	}
}

func TestOnTemporaryErrorDeliver(t *testing.T) {
	w, r := newTest(t, func(o *Options) { o.OnTemporaryError = DeliverWithoutSTS })
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	w.Fault("_mta-sts."+domain, testserver.ServFail)
	d, err := r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != DeliverWithoutSTS || d.Err == nil {
		t.Fatalf("got %+v, %v", d, err)
	}
	var de *DNSError
	if !errors.As(d.Err, &de) || !de.Temporary {
		t.Fatalf("Err = %v, want a temporary *DNSError", d.Err)
	}
}

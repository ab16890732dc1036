package resolver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/validate"
)

// TestTemporaryErrorGrace: a failing _mta-sts lookup with nothing cached
// defers while the domain's lookups have failed for less than the grace,
// then delivers without MTA-STS, saying why; a lookup that works again ends
// the run of failures.
func TestTemporaryErrorGrace(t *testing.T) {
	clk := newFakeClock()
	w, r := newTest(t, func(o *Options) { o.Clock = clk.Now; o.NoPolicyTTL = -1 })
	if r.opts.TemporaryErrorGrace != DefaultTemporaryErrorGrace {
		t.Fatalf("zero TemporaryErrorGrace = %v, want the default", r.opts.TemporaryErrorGrace)
	}
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	w.Fault("_mta-sts."+domain, testserver.ServFail)
	ctx := context.Background()
	check := func(want Action, reason string) Decision {
		t.Helper()
		d, err := r.Check(ctx, domain, goodMX)
		var de *DNSError
		if err != nil || d.Action != want || d.Reason != reason || !errors.As(d.Err, &de) || d.Result != "" {
			t.Fatalf("Check = %+v, %v; want %v (%s)", d, err, want, reason)
		}
		return d
	}
	start := clk.Now()
	d := check(Defer, ReasonTemporaryDNS)
	if !d.GraceEnds.Equal(start.Add(30 * time.Minute)) {
		t.Errorf("GraceEnds = %v, want %v", d.GraceEnds, start.Add(30*time.Minute))
	}
	clk.Advance(29 * time.Minute)
	if d = check(Defer, ReasonTemporaryDNS); !d.GraceEnds.Equal(start.Add(30 * time.Minute)) {
		t.Errorf("GraceEnds moved: %v", d.GraceEnds)
	}
	clk.Advance(time.Minute)
	check(DeliverWithoutSTS, ReasonGraceOver)
	if e, err := r.Lookup(ctx, domain); e != nil || err == nil {
		t.Errorf("Lookup = %+v, %v; want the DNS error", e, err)
	}
	// The lookup works again: the run ends, and the next failure starts a
	// new grace.
	w.ClearFaults()
	if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Action != Deliver {
		t.Fatalf("after recovery: %+v, %v", d, err)
	}
	if err := r.Purge(ctx, domain); err != nil {
		t.Fatal(err)
	}
	w.Fault("_mta-sts."+domain, testserver.ServFail)
	clk.Advance(time.Hour)
	check(Defer, ReasonTemporaryDNS)
}

func TestTemporaryErrorGraceSettings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
		on    Action
		after time.Duration // when the second check is made
		want  Action
	}{
		{"negative_delivers_at_once", -1, 0, 0, DeliverWithoutSTS},
		{"forever_defers", GraceForever, 0, 1000 * time.Hour, Defer},
		{"short_grace", time.Minute, 0, time.Minute, DeliverWithoutSTS},
		{"deliver_on_temporary_error", 0, DeliverWithoutSTS, 0, DeliverWithoutSTS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			w, r := newTest(t, func(o *Options) {
				o.Clock, o.TemporaryErrorGrace, o.OnTemporaryError = clk.Now, tc.grace, tc.on
			})
			w.Fault("_mta-sts."+domain, testserver.ServFail)
			d, err := r.Check(context.Background(), domain, goodMX)
			if err != nil || tc.after > 0 && d.Action != Defer {
				t.Fatalf("first check: %+v, %v", d, err)
			}
			clk.Advance(tc.after)
			d, err = r.Check(context.Background(), domain, goodMX)
			if err != nil || d.Action != tc.want || d.Err == nil || d.Reason == "" {
				t.Fatalf("Check = %+v, %v; want %v", d, err, tc.want)
			}
			if tc.want == Defer && !d.GraceEnds.IsZero() {
				t.Errorf("GraceForever: GraceEnds = %v, want zero", d.GraceEnds)
			}
		})
	}
}

// TestGraceMemoryBounded: the failing domains are remembered in an LRU of
// bounded size.
func TestGraceMemoryBounded(t *testing.T) {
	clk := newFakeClock()
	_, r := newTest(t, func(o *Options) { o.Clock = clk.Now })
	for i := range 3 * maxFailures {
		r.noteDNSFailure(string(rune('a'+i%26))+time.Duration(i).String()+".test", clk.Now())
	}
	if n := r.dnsFailing.Len(); n > maxFailures {
		t.Errorf("%d domains remembered, bound %d", n, maxFailures)
	}
}

// TestStaleDecisionCarriesRefreshFailure: a cached policy whose refresh
// fails still applies, and its Decision reports the failure (RFC 8461
// section 6), for TLS-RPT, unless its mode is none.
func TestStaleDecisionCarriesRefreshFailure(t *testing.T) {
	for _, mode := range []string{"enforce", "testing", "none"} {
		t.Run(mode, func(t *testing.T) {
			w, r := newTest(t)
			p := testserver.Policy{Mode: mode, MX: []string{goodMX}, MaxAge: 86400, ID: "r1"}
			w.AddDomain(domain, p)
			ctx := context.Background()
			if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Result != "" || d.Err != nil {
				t.Fatalf("first check: %+v, %v", d, err)
			}
			w.Fault("mta-sts."+domain, testserver.Status(503))
			if _, err := r.Refresh(ctx, domain); err == nil {
				t.Fatal("Refresh did not fail")
			}
			d, err := r.Check(ctx, domain, goodMX)
			if err != nil || d.Source != SourceStale || d.PolicyID != "r1" {
				t.Fatalf("stale check: %+v, %v", d, err)
			}
			var fe *FetchError
			if mode == "none" {
				if d.Action != DeliverWithoutSTS || d.Result != "" || d.Err != nil {
					t.Errorf("mode none: %+v; want no failure reported", d)
				}
				return
			}
			if d.Action != Deliver || d.Result != validate.ResultSTSPolicyFetchError || !errors.As(d.Err, &fe) {
				t.Errorf("stale %s: %+v; want Deliver reporting sts-policy-fetch-error", mode, d)
			}
			if mode == "enforce" {
				// A mismatch still reports the validation failure.
				d, _ = r.Check(ctx, domain, "evil.example")
				if d.Action != Refuse || d.Result != validate.ResultValidationFailure {
					t.Errorf("stale mismatch: %+v", d)
				}
			}
		})
	}
}

// TestPolicyValidThroughMaxAge: a policy applies up to and including its
// fetch time plus max_age, and not a second longer.
func TestPolicyValidThroughMaxAge(t *testing.T) {
	clk := newFakeClock()
	w, r := newTest(t, func(o *Options) { o.Clock = clk.Now; o.RevalidateInterval = 1000 * time.Hour })
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 600, ID: "m1"})
	ctx := context.Background()
	if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Source != SourceFetched {
		t.Fatalf("first check: %+v, %v", d, err)
	}
	w.Fault("_mta-sts."+domain, testserver.ServFail) // no refetch can help
	clk.Advance(600 * time.Second)
	if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Action != Deliver || d.PolicyID != "m1" {
		t.Fatalf("at fetched + max_age: %+v, %v; want the cached policy", d, err)
	}
	clk.Advance(time.Second)
	if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Action != Defer {
		t.Fatalf("a second later: %+v, %v; want the policy expired (Defer on the failing lookup)", d, err)
	}
}

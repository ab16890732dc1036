package resolver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/validate"
)

// TestCallerDeadlineDuringFetchIsFetchFailure: once the record is found, a
// caller whose deadline ends while the policy is fetched gets what a failed
// fetch gives (DeliverWithoutSTS, sts-policy-fetch-error, the record's id),
// not Defer; the fetch goes on and its policy serves the next call.
func TestCallerDeadlineDuringFetchIsFetchFailure(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "slow1"})
	w.Fault("mta-sts."+domain, testserver.SlowHeaders(600*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	d, err := r.Check(ctx, domain, goodMX)
	var fe *FetchError
	if err != nil || d.Action != DeliverWithoutSTS || d.Result != validate.ResultSTSPolicyFetchError ||
		d.PolicyID != "slow1" || d.Reason != ReasonFetchFailed || !errors.As(d.Err, &fe) || !errors.Is(d.Err, context.DeadlineExceeded) {
		t.Fatalf("impatient Check = %+v, %v; want DeliverWithoutSTS, sts-policy-fetch-error, id slow1", d, err)
	}
	// The fetch went on: a patient caller joins it and gets its policy.
	d, err = r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != Deliver || d.PolicyID != "slow1" {
		t.Fatalf("patient Check = %+v, %v; want Deliver", d, err)
	}
	if f := w.Fetches(domain); f != 1 {
		t.Errorf("%d fetches, want 1", f)
	}
}

// TestStallingPolicyHostReadsAsFetchFailure: with a policy host that
// never answers, every call reads as a failed fetch: during the fetch (the
// caller's deadline) and after it (its failure, answered at once inside the
// backoff). Lookup reports the same.
func TestStallingPolicyHostReadsAsFetchFailure(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "stall1"})
	w.Fault("mta-sts."+domain, testserver.SlowHeaders(time.Hour))
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 150*time.Millisecond)
	}
	ctx, cancel := short()
	e, err := r.Lookup(ctx, domain)
	cancel()
	var fe *FetchError
	if e == nil || e.ID != "stall1" || e.Policy != nil || !errors.As(err, &fe) || fe.Result() != validate.ResultSTSPolicyFetchError {
		t.Fatalf("Lookup during the fetch = %+v, %v; want the entry with id stall1 and a *FetchError", e, err)
	}
	for i := range 3 {
		ctx, cancel := short()
		d, err := r.Check(ctx, domain, goodMX)
		cancel()
		if err != nil || d.Action != DeliverWithoutSTS || d.Result != validate.ResultSTSPolicyFetchError || d.PolicyID != "stall1" {
			t.Fatalf("Check %d during the fetch = %+v, %v", i, d, err)
		}
	}
	// The fetch fails at FetchTimeout; then its failure is answered inside
	// the backoff without waiting.
	deadline := time.Now().Add(5 * time.Second)
	for w.Fetches(domain) < 1 || r.fetchPending(domain) {
		if time.Now().After(deadline) {
			t.Fatal("the fetch did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel = short()
	defer cancel()
	d, err := r.Check(ctx, domain, goodMX)
	if err != nil || d.Action != DeliverWithoutSTS || d.Result != validate.ResultSTSPolicyFetchError || !errors.As(d.Err, &fe) || fe.Kind != FetchTimeout {
		t.Fatalf("Check inside the backoff = %+v, %v", d, err)
	}
	if f := w.Fetches(domain); f != 1 {
		t.Errorf("%d fetches, want 1", f)
	}
}

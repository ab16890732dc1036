package resolver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache/redisstore"
	"github.com/mtasts-go/mtasts/internal/redistest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestFleetSharesRedis: two resolvers share policies through a real Redis;
// when Redis dies, both go on answering, from memory and by fetching.
func TestFleetSharesRedis(t *testing.T) {
	srv := redistest.Start(t)
	w := testserver.Start(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "1"})
	w.AddDomain("second.test", testserver.Policy{Mode: "testing", MX: []string{"mx.second.test"}, MaxAge: 86400})
	var storeErrors atomic.Int32
	newMTA := func() *Resolver {
		opts := testOptions(w)
		opts.Store = &redisstore.Store{Client: srv.Client(t), Prefix: "fleet:", Timeout: 300 * time.Millisecond}
		opts.Events.StoreError = func(error) { storeErrors.Add(1) }
		r, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a, b := newMTA(), newMTA()
	ctx := context.Background()
	if d, err := a.Check(ctx, domain, goodMX); err != nil || d.Action != Deliver || d.Source != SourceFetched {
		t.Fatalf("a: %+v, %v", d, err)
	}
	if err := a.cache.Flush(ctx); err != nil { // a's write reaches Redis a group commit later
		t.Fatal(err)
	}
	// b finds a's policy in Redis, even with the policy host down.
	w.Fault("mta-sts."+domain, testserver.Status(500))
	if d, err := b.Check(ctx, domain, otherMX); err != nil || d.Action != Refuse || d.PolicyID != "1" {
		t.Fatalf("b: %+v, %v", d, err)
	}
	if f := w.Fetches(domain); f != 1 {
		t.Fatalf("%d fetches for the fleet, want 1", f)
	}
	w.ClearFaults()

	// Redis dies: cached policies still apply, and new domains are still
	// fetched; the store's failures are reported, never fatal.
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Resolver{a, b} {
		if d, err := r.Check(ctx, domain, otherMX); err != nil || d.Action != Refuse {
			t.Fatalf("after Redis died, cached: %+v, %v", d, err)
		}
	}
	start := time.Now()
	d, err := a.Check(ctx, "second.test", "mx.second.test")
	if err != nil || d.Action != Deliver || d.Mode.String() != "testing" {
		t.Fatalf("after Redis died, new domain: %+v, %v", d, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a lookup with Redis dead took %v", took)
	}
	if storeErrors.Load() == 0 {
		t.Error("no StoreError event while Redis was dead")
	}
}

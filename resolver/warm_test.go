package resolver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
)

// hungStore is a DirStore whose Range and writes wait until release is
// closed, as a slow disk or a hung network store would; Get answers.
type hungStore struct {
	*cache.DirStore
	release chan struct{}
}

func (s hungStore) wait(ctx context.Context) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s hungStore) Range(ctx context.Context, f func(*cache.Entry) bool) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.DirStore.Range(ctx, f)
}

func (s hungStore) Put(ctx context.Context, e *cache.Entry) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.DirStore.Put(ctx, e)
}

func (s hungStore) PutMany(ctx context.Context, es []*cache.Entry) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.DirStore.PutMany(ctx, es)
}

func storedPolicy(t *testing.T, dir *cache.DirStore, d, id string, fetched time.Time) {
	t.Helper()
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: " + goodMX + "\nmax_age: 86400\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Put(context.Background(), cache.NewEntry(d, id, p, fetched)); err != nil {
		t.Fatal(err)
	}
}

// TestNewDoesNotWaitForWarm: New returns at once while the store is still
// being read; meanwhile a miss reads that one domain from the store (so a
// stored policy is not refetched, even with its policy host down), and an
// expired stored policy is never applied.
func TestNewDoesNotWaitForWarm(t *testing.T) {
	w := testserver.Start(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "2"})
	w.AddDomain("expired.test", testserver.Policy{Mode: "testing", MX: []string{"mx.expired.test"}, MaxAge: 86400, ID: "new"})
	w.Fault("mta-sts."+domain, testserver.Status(500))
	dir := &cache.DirStore{Dir: t.TempDir()}
	storedPolicy(t, dir, domain, "1", time.Now().Add(-time.Hour))
	storedPolicy(t, dir, "expired.test", "old", time.Now().Add(-48*time.Hour))

	s := hungStore{dir, make(chan struct{})}
	var warmed atomic.Pointer[cache.WarmProgress]
	opts := testOptions(w)
	opts.Store = s
	opts.Events.Warmed = func(p cache.WarmProgress) { warmed.Store(&p) }
	start := time.Now()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("New took %v with the store's Range hung", took)
	}
	if p := r.Warming(); p.Done {
		t.Errorf("Warming = %+v while the store hangs", p)
	}
	ctx := context.Background()
	d, err := r.Check(ctx, domain, otherMX)
	if err != nil || d.Action != Refuse || d.PolicyID != "1" || d.Source != SourceCache {
		t.Fatalf("stored policy while warming: %+v, %v", d, err)
	}
	if f := w.Fetches(domain); f != 0 {
		t.Errorf("%d fetches of a stored policy", f)
	}
	e, err := r.Lookup(ctx, "expired.test")
	if err != nil || e == nil || e.ID != "new" || e.Source != SourceFetched {
		t.Fatalf("expired stored policy: %+v, %v; want the new one fetched", e, err)
	}

	close(s.release)
	deadline := time.Now().Add(10 * time.Second)
	for warmed.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p := warmed.Load()
	if p == nil || !p.Done || p.Err != nil || p.Seen != 2 {
		t.Fatalf("Warmed event: %+v", p)
	}
	if got := r.Warming(); !got.Done {
		t.Errorf("Warming after the event: %+v", got)
	}
}

// TestVerdictDoesNotWaitForStoreWrite: with the store's writes hung, a
// cold Check answers as fast as without a store, and Close commits the
// write once the store is back.
func TestVerdictDoesNotWaitForStoreWrite(t *testing.T) {
	w := testserver.Start(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "1"})
	dir := &cache.DirStore{Dir: t.TempDir()}
	s := hungStore{dir, make(chan struct{})}
	opts := testOptions(w)
	opts.Store = s
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, err := r.Check(context.Background(), domain, goodMX)
	if err != nil || d.Action != Deliver || d.Source != SourceFetched {
		t.Fatalf("%+v, %v", d, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cold Check took %v with the store's writes hung", took)
	}
	if _, err := dir.Get(context.Background(), domain); err == nil {
		t.Fatal("the policy reached the hung store before the verdict")
	}
	close(s.release)
	r.Close()
	if e, err := dir.Get(context.Background(), domain); err != nil || e.ID() != "1" {
		t.Errorf("stored after Close: %v, %v", e, err)
	}
}

package resolver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/redisstore"
	"github.com/mtasts-go/mtasts/internal/redistest"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
)

// storeEnforce puts an enforce policy for goodMX with max_age one day,
// fetched at fetched, in s.
func storeEnforce(t *testing.T, s cache.Store, d, id string, fetched time.Time) {
	t.Helper()
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: " + goodMX + "\nmax_age: 86400\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), cache.NewEntry(d, id, p, fetched)); err != nil {
		t.Fatal(err)
	}
}

// gatedStore is a Store (a real one inside) whose Get first calls before,
// as a slow or failing network store would; it counts the Gets.
type gatedStore struct {
	cache.Store
	before func(ctx context.Context, domain string) error
	gets   *atomic.Int32
}

func (s gatedStore) Get(ctx context.Context, domain string) (*cache.Entry, error) {
	s.gets.Add(1)
	if err := s.before(ctx, domain); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, domain)
}

// TestStoredPolicyWinsOverRecordLookup: the store is read while the
// _mta-sts record is looked up, and a stored unexpired policy is served
// exactly as when the record was not asked for: whatever the record says
// (another id, SERVFAIL, an answer that takes seconds) and with the policy
// host down, nothing is fetched and the verdict does not wait for the
// record. An expired stored policy is never applied.
func TestStoredPolicyWinsOverRecordLookup(t *testing.T) {
	srv := redistest.Start(t)
	w := testserver.Start(t)
	store := &redisstore.Store{Client: srv.Client(t), Prefix: "wins:"}
	var storeErrors atomic.Int32
	opts := testOptions(w)
	opts.Store = store
	opts.DNSTimeout = 5 * time.Second // a slow record is waited for, if it is
	opts.Events.StoreError = func(error) { storeErrors.Add(1) }
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		faults map[string][]testserver.Fault // by DNS or host name, "D" for the domain
	}{
		{"record_has_a_new_id", nil},
		{"record_servfail", map[string][]testserver.Fault{"_mta-sts.D": {testserver.ServFail}}},
		{"record_slow", map[string][]testserver.Fault{"_mta-sts.D": {testserver.DNSDelay(3 * time.Second)}}},
		{"policy_host_down", map[string][]testserver.Fault{"mta-sts.D": {testserver.Status(500)}}},
		{"record_slow_and_policy_host_down", map[string][]testserver.Fault{
			"_mta-sts.D": {testserver.DNSDelay(3 * time.Second)}, "mta-sts.D": {testserver.Status(500)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := strings.ReplaceAll(tc.name, "_", "-") + ".test"
			// The world publishes id 2; the store holds id 1, fetched an
			// hour ago: fetching would show as id 2.
			if _, err := w.AddDomain(d, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "2"}); err != nil {
				t.Fatal(err)
			}
			storeEnforce(t, store, d, "1", time.Now().Add(-time.Hour))
			for name, f := range tc.faults {
				w.Fault(name[:len(name)-1]+d, f...)
			}
			start := time.Now()
			v, err := r.Check(ctx, d, otherMX)
			took := time.Since(start)
			if err != nil || v.Action != Refuse || v.PolicyID != "1" || v.Source != SourceCache {
				t.Fatalf("Check = %+v, %v; want the stored policy 1 refusing %s", v, err, otherMX)
			}
			if f := w.Fetches(d); f != 0 {
				t.Errorf("%d fetches of a stored policy", f)
			}
			if took > time.Second {
				t.Errorf("the stored policy took %v to serve: the verdict waited for the record", took)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		d := "expired.test"
		if _, err := w.AddDomain(d, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "2"}); err != nil {
			t.Fatal(err)
		}
		storeEnforce(t, store, d, "1", time.Now().Add(-25*time.Hour))
		e, err := r.Lookup(ctx, d)
		if err != nil || e == nil || e.ID != "2" || e.Source != SourceFetched {
			t.Fatalf("Lookup = %+v, %v; want policy 2, fetched", e, err)
		}
	})
	if n := storeErrors.Load(); n != 0 {
		t.Errorf("%d StoreError events from a healthy store", n)
	}
}

// TestStoreReadOverlapsRecordLookup: a miss in the store costs the slower
// of the store read and the record lookup, not their sum. The store's Get
// waits until the DNS server has the _mta-sts query, which it would never
// have if the lookup began after the read; with both delayed, the verdict
// comes before their sum. Concurrent callers still share one read and one
// fetch.
func TestStoreReadOverlapsRecordLookup(t *testing.T) {
	srv := redistest.Start(t)
	w := testserver.Start(t)
	var gets atomic.Int32
	var sawQuery atomic.Int32
	const delay = time.Second
	store := gatedStore{
		Store: &redisstore.Store{Client: srv.Client(t), Prefix: "overlap:"},
		gets:  &gets,
		before: func(ctx context.Context, d string) error {
			// Bounded: 5 s, then the read goes on (and the test fails).
			deadline := time.Now().Add(5 * time.Second)
			for w.Queries("_mta-sts."+d, dns.TypeTXT) == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if w.Queries("_mta-sts."+d, dns.TypeTXT) > 0 {
				sawQuery.Add(1)
			}
			select {
			case <-time.After(delay):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}
	opts := testOptions(w)
	opts.Store = store
	opts.DNSTimeout = 5 * time.Second
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "1"}); err != nil {
		t.Fatal(err)
	}
	w.Fault("_mta-sts."+domain, testserver.DNSDelay(delay))

	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		wg.Go(func() {
			v, err := r.Check(context.Background(), domain, goodMX)
			if err != nil || v.Action != Deliver || v.PolicyID != "1" || v.Source != SourceFetched {
				errs <- errors.New("Check: " + v.Reason)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if sawQuery.Load() != 1 {
		t.Fatalf("the store read began before the record lookup in %d of 1 reads", 1-sawQuery.Load())
	}
	if g, f := gets.Load(), w.Fetches(domain); g != 1 || f != 1 {
		t.Errorf("%d store reads and %d fetches for %d concurrent callers, want 1 and 1", g, f, callers)
	}
	// Sequential, the store's delay and the record's would add up to 2*delay.
	if took >= 2*delay-delay/4 {
		t.Errorf("a miss with the store and the record each %v slow took %v", delay, took)
	}
}

// TestStoreFailureDuringRecordLookup: a store that fails or hangs while
// the record is looked up costs the verdict no more than before: the
// policy is fetched, the failure reported once through Events.StoreError,
// and for cache.ReadBackoff the next misses do not ask the store.
func TestStoreFailureDuringRecordLookup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(srv *redistest.Server) error
	}{
		{"store_down", (*redistest.Server).Kill},
		{"store_hung", (*redistest.Server).Stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			w := testserver.Start(t)
			var gets, storeErrors atomic.Int32
			const timeout = 300 * time.Millisecond
			store := gatedStore{
				Store:  &redisstore.Store{Client: srv.Client(t), Prefix: "fail:", Timeout: timeout},
				gets:   &gets,
				before: func(context.Context, string) error { return nil },
			}
			opts := testOptions(w)
			opts.Store = store
			opts.Events.StoreError = func(err error) {
				// The failed reads; the write-behind's failures to commit
				// the fetched policies come at their own pace.
				var se *cache.StoreError
				if errors.As(err, &se) && se.Op == "get" {
					storeErrors.Add(1)
				}
			}
			r, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, d := range []string{"first.test", "second.test"} {
				if _, err := w.AddDomain(d, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400, ID: "1"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.breakIt(srv); err != nil {
				t.Fatal(err)
			}
			defer srv.Cont()
			ctx := context.Background()
			for _, d := range []string{"first.test", "second.test"} {
				start := time.Now()
				v, err := r.Check(ctx, d, goodMX)
				if err != nil || v.Action != Deliver || v.Source != SourceFetched {
					t.Fatalf("%s: %+v, %v", d, v, err)
				}
				if took := time.Since(start); took > timeout+time.Second {
					t.Errorf("%s: the verdict took %v with the store failing (its timeout %v)", d, took, timeout)
				}
			}
			if g := gets.Load(); g != 1 {
				t.Errorf("%d store reads, want 1: the second miss comes within cache.ReadBackoff", g)
			}
			if n := storeErrors.Load(); n != 1 {
				t.Errorf("%d StoreError events for a read, want 1", n)
			}
		})
	}
}

package resolver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/redisstore"
	"github.com/mtasts-go/mtasts/internal/redistest"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
)

// BenchmarkColdLookupStore measures a whole discovery (as ColdLookup does)
// without a store, with a DirStore and with the Redis store: the store's
// read of the miss is on the path, its write is not. The three resolvers
// take turns, lookup by lookup, so that the noise of a shared machine
// falls on all three alike; the metrics are each one's mean time per
// lookup and its ratio to the one without a store, and the ratio of the
// medians (-med), which a preempted lookup or a GC pause moves less.
func BenchmarkColdLookupStore(b *testing.B) {
	srv := redistest.Start(b)
	w := testserver.Start(b)
	if _, err := w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX, "*.mx.example.test", "backup.example.test"}, MaxAge: 86400}); err != nil {
		b.Fatal(err)
	}
	stores := []cache.Store{
		nil,
		&cache.DirStore{Dir: b.TempDir()},
		&redisstore.Store{Client: srv.Client(b), Prefix: "bench:"},
	}
	names := []string{"none", "dir", "redis"}
	rs := make([]*Resolver, len(stores))
	for i, s := range stores {
		opts := testOptions(w)
		opts.Store = s
		r, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		rs[i] = r
	}
	ctx := context.Background()
	spent := make([]time.Duration, len(rs))
	took := make([][]time.Duration, len(rs))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for k := range rs {
			i := (n + k) % len(rs) // rotate who goes first
			r := rs[i]
			b.StopTimer()
			if err := r.cache.Delete(ctx, domain); err != nil { // waits for the last write
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			e, err := r.Lookup(ctx, domain)
			d := time.Since(start)
			spent[i] += d
			took[i] = append(took[i], d)
			if err != nil || e == nil || e.Source != SourceFetched {
				b.Fatal(e, err)
			}
		}
		n++
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	for i, name := range names {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(n), name+"-ns/lookup")
		if i > 0 {
			b.ReportMetric(float64(spent[i])/float64(spent[0]), name+"/none")
			b.ReportMetric(float64(median(took[i]))/float64(median(took[0])), name+"/none-med")
		}
	}
}

// pausedStore is a Store whose Range yields half its entries, then waits
// for release: a warm caught in the middle.
type pausedStore struct {
	*cache.MemoryStore
	release chan struct{}
}

func (s pausedStore) Range(ctx context.Context, f func(*cache.Entry) bool) error {
	half := s.Len() / 2
	n := 0
	return s.MemoryStore.Range(ctx, func(e *cache.Entry) bool {
		if n++; n == half {
			select {
			case <-s.release:
			case <-ctx.Done():
				return false
			}
		}
		return f(e)
	})
}

// fillMemory returns a MemoryStore of n enforce policies.
func fillMemory(b *testing.B, n int) *cache.MemoryStore {
	s := &cache.MemoryStore{}
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: mx1.example.net\nmx: *.mx.example.net\nmax_age: 604800\n"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range n {
		if err := s.Put(context.Background(), cache.NewEntry(fmt.Sprintf("d%07d.example.com", i), "1", p, now)); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkCheckWhileWarming: a cache-hit Check while New's background
// warm is in progress. "paused" holds the warm half-way, so that the
// allocation counters (global to the process) count the Check alone: it
// must stay at 0 allocs. "running" measures the Check's time while the
// warm of 200 000 stored policies competes for the two cores, beside
// "idle", the same resolver once the warm is over.
func BenchmarkCheckWhileWarming(b *testing.B) {
	w := testserver.Start(b)
	if _, err := w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	newResolver := func(s cache.Store) *Resolver {
		opts := testOptions(w)
		opts.Store = s
		opts.CacheSize = 1 << 20
		r, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Action != Deliver {
			b.Fatal(d, err)
		}
		return r
	}
	b.Run("paused", func(b *testing.B) {
		s := pausedStore{fillMemory(b, 10_000), make(chan struct{})}
		r := newResolver(s)
		defer r.Close()
		defer close(s.release)
		if r.Warming().Done {
			b.Fatal("warm not in progress")
		}
		b.ReportAllocs()
		for b.Loop() {
			if d, _ := r.Check(ctx, domain, goodMX); d.Action != Deliver {
				b.Fatal(d)
			}
		}
		if r.Warming().Done {
			b.Fatal("warm over during the benchmark")
		}
	})
	b.Run("running", func(b *testing.B) {
		store := fillMemory(b, 200_000)
		// One measurement, whatever b.N: a warm is not a loop body.
		var during, after time.Duration
		checks := 0
		r := newResolver(store)
		for !r.Warming().Done {
			t := time.Now()
			for range 1000 {
				if d, _ := r.Check(ctx, domain, goodMX); d.Action != Deliver {
					b.Fatal(d)
				}
			}
			during += time.Since(t)
			checks += 1000
		}
		t := time.Now()
		for range checks {
			if d, _ := r.Check(ctx, domain, goodMX); d.Action != Deliver {
				b.Fatal(d)
			}
		}
		after += time.Since(t)
		r.Close()
		b.ReportMetric(float64(during.Nanoseconds())/float64(checks), "warming-ns/check")
		b.ReportMetric(float64(after.Nanoseconds())/float64(checks), "idle-ns/check")
	})
}

// BenchmarkNewMillion starts a resolver on a DirStore of a million
// policies, filled by the cache package's BenchmarkDirStoreMillion in
// MTASTS_MILLION_DIR: how long New takes, how long the background warm
// takes, and what a cache-hit Check costs while it runs and after.
//
//	MTASTS_MILLION=1000000 MTASTS_MILLION_DIR=/var/tmp/m go test -run '^$' -bench DirStoreMillion -benchtime 1x -timeout 60m ./cache/
//	MTASTS_MILLION=1000000 MTASTS_MILLION_DIR=/var/tmp/m go test -run '^$' -bench NewMillion -benchtime 1x ./resolver/
func BenchmarkNewMillion(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("MTASTS_MILLION"))
	dir := os.Getenv("MTASTS_MILLION_DIR")
	if n <= 0 || dir == "" {
		b.Skip("set MTASTS_MILLION and MTASTS_MILLION_DIR, filled by the cache package's BenchmarkDirStoreMillion")
	}
	if _, err := os.Stat(filepath.Join(dir, ".filled-"+strconv.Itoa(n))); err != nil {
		b.Skip("MTASTS_MILLION_DIR is not filled: run the cache package's BenchmarkDirStoreMillion first")
	}
	w := testserver.Start(b)
	if _, err := w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	opts := testOptions(w)
	opts.Store = &cache.DirStore{Dir: dir}
	opts.CacheSize = n + 1000
	// The stored policies were fetched at a fixed past date for a week.
	opts.Clock = func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }
	// New, five times (Close stops each warm at once), beside New without
	// a store: the median of each.
	news := func(store cache.Store) time.Duration {
		o := opts
		o.Store = store
		var took []time.Duration
		for range 5 {
			start := time.Now()
			r, err := New(o)
			took = append(took, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
		slices.Sort(took)
		return took[len(took)/2]
	}
	newTook, newBare := news(opts.Store), news(nil)

	warmed := make(chan cache.WarmProgress, 1)
	opts.Events.Warmed = func(p cache.WarmProgress) { warmed <- p }
	start := time.Now()
	r, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Action != Deliver {
		b.Fatal(d, err)
	}
	var during time.Duration
	checks := 0
	for !r.Warming().Done {
		t := time.Now()
		for range 1000 {
			if d, _ := r.Check(ctx, domain, goodMX); d.Action != Deliver {
				b.Fatal(d)
			}
		}
		during += time.Since(t)
		checks += 1000
	}
	p := <-warmed
	warmTook := time.Since(start)
	t := time.Now()
	for range checks {
		if d, _ := r.Check(ctx, domain, goodMX); d.Action != Deliver {
			b.Fatal(d)
		}
	}
	after := time.Since(t)
	if p.Loaded < n || p.Err != nil {
		b.Fatalf("warm: %+v", p)
	}
	b.ReportMetric(float64(newTook.Microseconds())/1000, "new-ms")
	b.ReportMetric(float64(newBare.Microseconds())/1000, "new-without-store-ms")
	b.ReportMetric(warmTook.Seconds(), "warm-s")
	b.ReportMetric(float64(during.Nanoseconds())/float64(checks), "warming-ns/check")
	b.ReportMetric(float64(after.Nanoseconds())/float64(checks), "idle-ns/check")
}

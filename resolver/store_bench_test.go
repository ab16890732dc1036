package resolver

import (
	"context"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/redisstore"
	"github.com/mtasts-go/mtasts/internal/redistest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// BenchmarkColdLookupStore measures a whole discovery (as ColdLookup does)
// without a store, with a DirStore and with the Redis store: the store's
// read of the miss is on the path, its write is not. The three resolvers
// take turns, lookup by lookup, so that the noise of a shared machine
// falls on all three alike; the metrics are each one's time per lookup and
// the ratios to the one without a store.
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
			spent[i] += time.Since(start)
			if err != nil || e == nil || e.Source != SourceFetched {
				b.Fatal(e, err)
			}
		}
		n++
	}
	for i, name := range names {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(n), name+"-ns/lookup")
		if i > 0 {
			b.ReportMetric(float64(spent[i])/float64(spent[0]), name+"/none")
		}
	}
}

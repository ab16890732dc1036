package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/policy"
)

var benchNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func benchPolicy(b testing.TB, domain string) *policy.Policy {
	b.Helper()
	body := fmt.Sprintf("version: STSv1\r\nmode: enforce\r\nmx: mx1.%s\r\nmx: mx2.%s\r\nmx: *.mx.%s\r\nmax_age: 604800\r\n", domain, domain, domain)
	p, _, err := policy.Parse([]byte(body))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// filled returns a memory-only cache of n entries and their domains.
func filled(b testing.TB, n int) (*cache.Cache, []string) {
	c := cache.New(n, nil)
	domains := make([]string, n)
	for i := range domains {
		d := fmt.Sprintf("d%07d.example.com", i)
		domains[i] = d
		if err := c.Put(context.Background(), cache.NewEntry(d, "20250601", benchPolicy(b, d), benchNow.Add(-time.Hour))); err != nil {
			b.Fatal(err)
		}
	}
	return c, domains
}

// BenchmarkGetHit is the hot path: one hot domain in a cache of 10 000.
func BenchmarkGetHit(b *testing.B) {
	c, domains := filled(b, 10_000)
	d := domains[1234]
	b.ReportAllocs()
	for b.Loop() {
		if c.Get(d, benchNow) == nil {
			b.Fatal("miss")
		}
	}
}

// BenchmarkGetHitParallel reads one hot domain from every core: it must
// scale, since there is no lock and no shared write on the read path.
func BenchmarkGetHitParallel(b *testing.B) {
	c, domains := filled(b, 10_000)
	d := domains[1234]
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c.Get(d, benchNow) == nil {
				b.Error("miss")
				return
			}
		}
	})
}

// BenchmarkGetSpreadParallel reads many domains of a cache of 100 000 from
// every core, so that buckets and entries come from memory, not L1.
func BenchmarkGetSpreadParallel(b *testing.B) {
	c, domains := filled(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if c.Get(domains[i%len(domains)], benchNow) == nil {
				b.Error("miss")
				return
			}
			i += 7919
		}
	})
}

func BenchmarkGetMiss(b *testing.B) {
	c, _ := filled(b, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		if c.Get("absent.example.net", benchNow) != nil {
			b.Fatal("hit")
		}
	}
}

// BenchmarkPut replaces entries of a full memory-only cache.
func BenchmarkPut(b *testing.B) {
	c, domains := filled(b, 10_000)
	entries := make([]*cache.Entry, len(domains))
	for i, d := range domains {
		entries[i] = cache.NewEntry(d, "20250602", benchPolicy(b, d), benchNow)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.Put(ctx, entries[i%len(entries)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPutEvict inserts new domains into a full cache: each costs an
// eviction.
func BenchmarkPutEvict(b *testing.B) {
	c, _ := filled(b, 10_000)
	const fresh = 1 << 16
	entries := make([]*cache.Entry, fresh)
	p := benchPolicy(b, "example.org")
	for i := range entries {
		entries[i] = cache.NewEntry(fmt.Sprintf("n%07d.example.org", i), "20250602", p, benchNow)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.Put(ctx, entries[i%fresh]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkDirStorePut(b *testing.B) {
	s := &cache.DirStore{Dir: b.TempDir()}
	e := cache.NewEntry("example.com", "1", benchPolicy(b, "example.com"), benchNow)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Put(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDirStoreGet(b *testing.B) {
	s := &cache.DirStore{Dir: b.TempDir()}
	ctx := context.Background()
	if err := s.Put(ctx, cache.NewEntry("example.com", "1", benchPolicy(b, "example.com"), benchNow)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalBinary(b *testing.B) {
	e := cache.NewEntry("example.com", "1", benchPolicy(b, "example.com"), benchNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEntry(b *testing.B) {
	enc, err := cache.NewEntry("example.com", "1", benchPolicy(b, "example.com"), benchNow).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cache.ParseEntry(enc); err != nil {
			b.Fatal(err)
		}
	}
}

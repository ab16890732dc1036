package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
	"github.com/mtasts-go/mtasts/cache/redisstore"
	"github.com/mtasts-go/mtasts/policy"
)

func millionEntry(b *testing.B, i int, id string) *cache.Entry {
	d := fmt.Sprintf("d%07d.example.com", i)
	body := fmt.Sprintf("version: STSv1\r\nmode: enforce\r\nmx: mx1.%s\r\nmx: mx2.%s\r\nmx: *.mx.%s\r\nmax_age: 604800\r\n", d, d, d)
	p, _, err := policy.Parse([]byte(body))
	if err != nil {
		b.Fatal(err)
	}
	return cache.NewEntry(d, id, p, storetest.Now())
}

// BenchmarkRedisMillion measures the Redis store of a million entries
// beside one of a thousand, in one run, against a real redis-server:
// filling with PutMany, Put, PutMany of a group, Get of a present and of
// an absent domain, Range (SCAN in pages) of everything, and the
// background warm of a Cache made by Open. MTASTS_MILLION sets the size.
//
//	MTASTS_MILLION=1000000 go test -run '^$' -bench RedisMillion -benchtime 1x -timeout 60m ./cache/redisstore/
func BenchmarkRedisMillion(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("MTASTS_MILLION"))
	if n <= 0 {
		b.Skip("set MTASTS_MILLION=1000000 to measure the store at a million entries")
	}
	srv := startRedis(b)
	ctx := context.Background()
	for _, sz := range []struct {
		name string
		n    int
	}{{"1k", 1000}, {"1M", n}} {
		s := &redisstore.Store{Client: srv.client(b), Prefix: sz.name + ":", Timeout: 10 * time.Second}
		start := time.Now()
		const group = 1000
		for lo := 0; lo < sz.n; lo += group {
			es := make([]*cache.Entry, 0, group)
			for i := lo; i < min(lo+group, sz.n); i++ {
				es = append(es, millionEntry(b, i, "20250601"))
			}
			if err := s.PutMany(ctx, es); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(sz.n)/time.Since(start).Seconds(), sz.name+"-fill-entries/s")

		rng := rand.New(rand.NewPCG(1, 2))
		const puts = 2000
		start = time.Now()
		for range puts {
			if err := s.Put(ctx, millionEntry(b, rng.IntN(sz.n), "20250602")); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/puts, sz.name+"-put-µs")
		const gets = 20000
		start = time.Now()
		for range gets {
			if _, err := s.Get(ctx, fmt.Sprintf("d%07d.example.com", rng.IntN(sz.n))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/gets, sz.name+"-get-µs")
		start = time.Now()
		for i := range gets {
			if _, err := s.Get(ctx, "absent"+strconv.Itoa(i)+".example"); err == nil {
				b.Fatal("hit")
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/gets, sz.name+"-getmiss-µs")

		start = time.Now()
		seen := 0
		if err := s.Range(ctx, func(*cache.Entry) bool { seen++; return true }); err != nil {
			b.Fatal(err)
		}
		if seen != sz.n {
			b.Fatalf("Range saw %d, want %d", seen, sz.n)
		}
		b.ReportMetric(time.Since(start).Seconds(), sz.name+"-range-s")

		start = time.Now()
		warmed := make(chan cache.WarmProgress, 1)
		c := cache.Open(cache.Options{Size: sz.n, Store: s, Warm: true,
			Clock: storetest.Now, OnWarmed: func(p cache.WarmProgress) { warmed <- p }})
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, sz.name+"-open-ms")
		p := <-warmed
		b.ReportMetric(time.Since(start).Seconds(), sz.name+"-warm-s")
		c.Close()
		if p.Loaded != sz.n || p.Err != nil {
			b.Fatalf("warm: %+v", p)
		}
	}
}

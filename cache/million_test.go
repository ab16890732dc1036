package cache_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
)

// millionSize is the number of stored entries of the opt-in benchmarks at
// scale: MTASTS_MILLION=1000000 runs them (they take minutes and about
// 4 GB of disk), MTASTS_MILLION_DIR keeps the filled directory for another
// run (of these or of the resolver's).
func millionSize(b *testing.B) int {
	n, _ := strconv.Atoi(os.Getenv("MTASTS_MILLION"))
	if n <= 0 {
		b.Skip("set MTASTS_MILLION=1000000 to measure the stores at a million entries")
	}
	return n
}

func millionDomain(i int) string { return fmt.Sprintf("d%07d.example.com", i) }

// fillDir fills dir with n entries, unless a previous run did, without
// syncing (Put and PutMany are measured afterwards), and returns the rate
// of the first and the last tenth.
func fillDir(b *testing.B, dir string, n int) (first, last float64) {
	marker := filepath.Join(dir, ".filled-"+strconv.Itoa(n))
	if _, err := os.Stat(marker); err == nil {
		return 0, 0
	}
	s := &cache.DirStore{Dir: dir}
	const group, writers = 1024, 4
	tenth := n / 10
	var mu sync.Mutex
	done := 0
	var t0, t1 time.Time
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range writers {
		wg.Go(func() {
			for lo := range next {
				es := make([]*cache.Entry, 0, group)
				for i := lo; i < min(lo+group, n); i++ {
					d := millionDomain(i)
					es = append(es, cache.NewEntry(d, "20250601", benchPolicy(b, d), benchNow))
				}
				for _, e := range es {
					if err := s.FillUnsynced(e); err != nil {
						b.Error(err)
						return
					}
				}
				mu.Lock()
				done += len(es)
				if t0.IsZero() && done >= tenth {
					t0 = time.Now()
				}
				if t1.IsZero() && done >= n-tenth {
					t1 = time.Now()
				}
				mu.Unlock()
			}
		})
	}
	for lo := 0; lo < n; lo += group {
		next <- lo
	}
	close(next)
	wg.Wait()
	end := time.Now()
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d entries in %v", n, end.Sub(start).Round(time.Millisecond))
	return float64(tenth) / t0.Sub(start).Seconds(), float64(tenth) / end.Sub(t1).Seconds()
}

// BenchmarkDirStoreMillion measures a DirStore of a million entries beside
// one of a thousand, in one run: Put, PutMany of a group, Get of a present
// and of an absent domain, Range of everything from the files alone (which
// writes the snapshot) and then with the snapshot, and the background warm
// of a Cache made by Open (with the snapshot).
//
//	MTASTS_MILLION=1000000 go test -run '^$' -bench DirStoreMillion -benchtime 1x -timeout 60m ./cache/
func BenchmarkDirStoreMillion(b *testing.B) {
	n := millionSize(b)
	dir := os.Getenv("MTASTS_MILLION_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	small := b.TempDir()
	fillDir(b, small, 1000)
	first, last := fillDir(b, dir, n)
	if first > 0 {
		b.ReportMetric(first, "fill-first-tenth-entries/s")
		b.ReportMetric(last, "fill-last-tenth-entries/s")
	}
	for _, sz := range []struct {
		name string
		dir  string
		n    int
	}{{"1k", small, 1000}, {"1M", dir, n}} {
		s := &cache.DirStore{Dir: sz.dir}
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		pick := func() string { return millionDomain(rng.IntN(sz.n)) }

		const puts = 200
		start := time.Now()
		for range puts {
			d := pick()
			if err := s.Put(ctx, cache.NewEntry(d, "20250602", benchPolicy(b, d), benchNow)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/puts, sz.name+"-put-µs")

		const groups = 10
		start = time.Now()
		for range groups {
			es := make([]*cache.Entry, 0, 256)
			seen := map[string]bool{}
			for len(es) < 256 {
				d := pick()
				if !seen[d] {
					seen[d] = true
					es = append(es, cache.NewEntry(d, "20250603", benchPolicy(b, d), benchNow))
				}
			}
			if err := s.PutMany(ctx, es); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/groups/256, sz.name+"-putmany256-µs/entry")

		const gets = 20000
		start = time.Now()
		for range gets {
			if _, err := s.Get(ctx, pick()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/gets/1000, sz.name+"-get-µs")
		start = time.Now()
		for i := range gets {
			if _, err := s.Get(ctx, "absent"+strconv.Itoa(i)+".example"); err == nil {
				b.Fatal("hit")
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/gets/1000, sz.name+"-getmiss-µs")

		// Range from the files alone (no snapshot), which writes a
		// snapshot as it goes, and then from the snapshot.
		if err := os.Remove(filepath.Join(sz.dir, ".snapshot")); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		for _, how := range []string{"files", "snapshot"} {
			start = time.Now()
			seen := 0
			if err := s.Range(ctx, func(*cache.Entry) bool { seen++; return true }); err != nil {
				b.Fatal(err)
			}
			if seen < sz.n { // a resolver benchmark sharing the directory may have added its own
				b.Fatalf("Range saw %d entries, want %d", seen, sz.n)
			}
			b.ReportMetric(time.Since(start).Seconds(), sz.name+"-range-"+how+"-s")
		}

		start = time.Now()
		warmed := make(chan cache.WarmProgress, 1)
		c := cache.Open(cache.Options{Size: sz.n, Store: s, Warm: true,
			Clock: func() time.Time { return benchNow }, OnWarmed: func(p cache.WarmProgress) { warmed <- p }})
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, sz.name+"-open-ms")
		p := <-warmed
		b.ReportMetric(time.Since(start).Seconds(), sz.name+"-warm-s")
		c.Close()
		if p.Loaded < sz.n || p.Err != nil {
			b.Fatalf("warm: %+v", p)
		}
	}
}

// BenchmarkWarmMillion measures, in a process of its own, the background
// warm of a Cache made by Open on the directory that
// BenchmarkDirStoreMillion filled (and whose snapshot it wrote).
//
//	MTASTS_MILLION=1000000 MTASTS_MILLION_DIR=/var/tmp/m go test -run '^$' -bench WarmMillion -benchtime 1x -count 3 ./cache/
func BenchmarkWarmMillion(b *testing.B) {
	n := millionSize(b)
	dir := os.Getenv("MTASTS_MILLION_DIR")
	if _, err := os.Stat(filepath.Join(dir, ".filled-"+strconv.Itoa(n))); err != nil {
		b.Skip("run BenchmarkDirStoreMillion with MTASTS_MILLION_DIR first")
	}
	for b.Loop() {
		start := time.Now()
		warmed := make(chan cache.WarmProgress, 1)
		c := cache.Open(cache.Options{Size: n, Store: &cache.DirStore{Dir: dir}, Warm: true,
			Clock: func() time.Time { return benchNow }, OnWarmed: func(p cache.WarmProgress) { warmed <- p }})
		p := <-warmed
		b.ReportMetric(time.Since(start).Seconds(), "warm-s")
		c.Close()
		if p.Loaded < n || p.Err != nil {
			b.Fatalf("warm: %+v", p)
		}
	}
}

package cache_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/policy"
)

// TestMemoryMillion checks the memory target (docs/BENCHMARKS.md): a million cached
// policies of three mx patterns each in at most 400 MB of heap, everything
// counted: the policies, their strings and the cache's own structures. It
// takes a few seconds and about 1 GB at peak, so it runs only when
// MTASTS_MEMTEST=1:
//
//	MTASTS_MEMTEST=1 go test -run TestMemoryMillion -v ./cache/
func TestMemoryMillion(t *testing.T) {
	if testing.Short() || os.Getenv("MTASTS_MEMTEST") == "" {
		t.Skip("set MTASTS_MEMTEST=1 to measure the heap of 1 000 000 entries")
	}
	const n = 1_000_000
	const limit = 400_000_000 // 400 MB, the stricter reading
	fetched := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	start := time.Now()

	before := heap()
	c := cache.New(n, nil)
	ctx := context.Background()
	var body []byte
	for i := range n {
		d := fmt.Sprintf("d%07d.example.com", i)
		body = fmt.Appendf(body[:0], "version: STSv1\r\nmode: enforce\r\nmx: mx1.%s\r\nmx: mx2.%s\r\nmx: *.mx.%s\r\nmax_age: 604800\r\n", d, d, d)
		p, _, err := policy.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("20250601T%06d", i%1_000_000)
		if err := c.Put(ctx, cache.NewEntry(d, id, p, fetched)); err != nil {
			t.Fatal(err)
		}
	}
	after := heap()
	if c.Len() != n {
		t.Fatalf("Len = %d, want %d", c.Len(), n)
	}
	used := after - before
	t.Logf("%d entries: %.1f MB (%.1f MiB) of heap, %d bytes per entry (policy and strings included); built in %v",
		n, float64(used)/1e6, float64(used)/(1<<20), used/n, time.Since(start).Round(time.Millisecond))
	if used > limit {
		t.Errorf("heap %d bytes > %d", used, limit)
	}
	runtime.KeepAlive(c)
}

func heap() int {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int(ms.HeapAlloc)
}

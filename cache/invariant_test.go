package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/policy"
	"unsafe"
)

// check verifies the Cache's bookkeeping: the count matches the nodes in the
// index, golang-lru holds exactly the non-empty buckets, every node lies in
// the bucket of its domain, and no domain appears twice.
func (c *Cache) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	nodes, nonEmpty := 0, 0
	seen := map[string]bool{}
	for b := range c.idx.buckets {
		n := c.idx.buckets[b].Load()
		if n != nil {
			nonEmpty++
			if !c.lru.Contains(uint32(b)) {
				t.Fatalf("bucket %d has entries but is not in the LRU", b)
			}
		} else if c.lru.Contains(uint32(b)) {
			t.Fatalf("empty bucket %d is in the LRU", b)
		}
		for ; n != nil; n = n.next.Load() {
			nodes++
			if got := c.idx.bucket(n.e.domain); got != uint32(b) {
				t.Fatalf("%s in bucket %d, hashes to %d", n.e.domain, b, got)
			}
			if seen[n.e.domain] {
				t.Fatalf("%s twice", n.e.domain)
			}
			seen[n.e.domain] = true
		}
	}
	if nodes != c.n || nonEmpty != c.lru.Len() || c.n > c.size {
		t.Fatalf("n %d, nodes %d; lru %d, non-empty buckets %d; size %d", c.n, nodes, c.lru.Len(), nonEmpty, c.size)
	}
}

// TestInvariants applies random operations to small caches and checks the
// bookkeeping after each.
func TestInvariants(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 3600\n"))
	if err != nil {
		t.Fatal(err)
	}
	zero, _, _ := policy.Parse([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, size := range []int{1, 2, 7, 64, 100, 300} {
		c := New(size, new(MemoryStore))
		for range 3000 {
			d := fmt.Sprintf("d%d.example", rng.IntN(3*size+5))
			switch op := rng.IntN(100); {
			case op < 60:
				fetched := now.Add(-time.Duration(rng.IntN(7200)) * time.Second)
				if err := c.Put(ctx, NewEntry(d, "1", p, fetched)); err != nil {
					t.Fatal(err)
				}
			case op < 62:
				if err := c.Put(ctx, NewEntry(d, "1", zero, now)); err != nil {
					t.Fatal(err)
				}
			case op < 70:
				if err := c.Delete(ctx, d); err != nil {
					t.Fatal(err)
				}
			case op < 85:
				c.Get(d, now)
			case op < 95:
				if _, err := c.Load(ctx, d, now); err != nil && err != ErrMiss {
					t.Fatal(err)
				}
			case op < 97:
				if _, err := c.Prune(ctx, now); err != nil {
					t.Fatal(err)
				}
			case op < 98:
				if _, err := c.Warm(ctx, now); err != nil {
					t.Fatal(err)
				}
			default:
				if err := c.Purge(ctx); err != nil {
					t.Fatal(err)
				}
			}
			c.check(t)
		}
	}
}

// TestNodeSize pins the memory layout that the 400 MB target relies on: a
// node fits the 80-byte size class.
func TestNodeSize(t *testing.T) {
	if got := unsafe.Sizeof(node{}); got > 80 {
		t.Errorf("node is %d bytes, want at most 80", got)
	}
}

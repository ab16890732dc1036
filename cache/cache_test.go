package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
)

// entryAt returns an entry of domain fetched at fetched, valid for maxAge
// seconds.
func entryAt(t testing.TB, domain, id string, fetched time.Time, maxAge uint32) *cache.Entry {
	t.Helper()
	return cache.NewEntry(domain, id, storetest.Policy(t, "enforce", maxAge, "mx.example.net"), fetched)
}

func TestCacheGetExpiry(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	c := cache.New(10, nil)
	if err := c.Put(ctx, entryAt(t, "example.com", "a", now, 3600)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at  time.Time
		hit bool
	}{
		{now, true},
		{now.Add(-time.Hour), true}, // a clock that went back still sees the entry
		{now.Add(3599 * time.Second), true},
		{now.Add(3600*time.Second - time.Nanosecond), true},
		{now.Add(3600 * time.Second), true}, // valid up to and including fetched + max_age
		{now.Add(3601*time.Second - time.Nanosecond), true},
		{now.Add(3601 * time.Second), false},
		{now.Add(1000 * time.Hour), false},
	} {
		e := c.Get("example.com", tc.at)
		if (e != nil) != tc.hit {
			t.Errorf("Get at %v: %v, want hit %v", tc.at, e, tc.hit)
		}
		if e != nil && e.ID() != "a" {
			t.Errorf("Get: id %q", e.ID())
		}
		e, err := c.Load(ctx, "example.com", tc.at)
		if (err == nil) != tc.hit || (!tc.hit && !errors.Is(err, cache.ErrMiss)) {
			t.Errorf("Load at %v: %v, %v", tc.at, e, err)
		}
	}
	// An expired entry is still listed and can be peeked at.
	if e := c.Peek("example.com"); e == nil || e.ID() != "a" {
		t.Errorf("Peek = %v", e)
	}
	if n := count(c); n != 1 {
		t.Errorf("All listed %d entries, want 1", n)
	}
	if c.Get("other.example", now) != nil || c.Peek("other.example") != nil {
		t.Error("hit for a domain never put")
	}
	if c.Get("EXAMPLE.COM", now) != nil {
		t.Error("keys are compared exactly: the caller normalises")
	}
}

func count(c *cache.Cache) int {
	n := 0
	for range c.All() {
		n++
	}
	return n
}

func TestCachePutReplaces(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	c := cache.New(10, s)
	for i, id := range []string{"a", "b", "c"} {
		if err := c.Put(ctx, entryAt(t, "example.com", id, now.Add(time.Duration(i)*time.Minute), 3600)); err != nil {
			t.Fatal(err)
		}
	}
	if e := c.Get("example.com", now); e == nil || e.ID() != "c" {
		t.Errorf("Get = %v, want id c", e)
	}
	if e, err := s.Get(ctx, "example.com"); err != nil || e.ID() != "c" {
		t.Errorf("store: %v, %v", e, err)
	}
	if c.Len() != 1 || count(c) != 1 {
		t.Errorf("Len %d, All %d, want 1", c.Len(), count(c))
	}
}

// TestCacheTouch: Touch updates memory and leaves the store alone.
func TestCacheTouch(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	c := cache.New(10, s)
	e := entryAt(t, "example.com", "a", now, 3600)
	if err := c.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	later := now.Add(10 * time.Minute)
	if err := c.Touch(e.WithCheckedAt(later)); err != nil {
		t.Fatal(err)
	}
	if got := c.Get("example.com", later); got == nil || !got.CheckedAt().Equal(later) {
		t.Errorf("memory: %v", got)
	}
	if got, err := s.Get(ctx, "example.com"); err != nil || !got.CheckedAt().Equal(now) {
		t.Errorf("store: %v, %v; want the entry as Put", got, err)
	}
	// Another policy in memory than the one touched: Touch does nothing.
	newer := entryAt(t, "example.com", "b", later, 3600)
	if err := c.Put(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := c.Touch(e.WithCheckedAt(later.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if got := c.Get("example.com", later); got == nil || got.ID() != "b" {
		t.Errorf("Touch of an older policy replaced the newer: %v", got)
	}
	if err := c.Touch(&cache.Entry{}); !errors.Is(err, cache.ErrInvalid) {
		t.Errorf("Touch of an invalid entry: %v", err)
	}
}

// TestCacheMaxAgeZero: a policy with max_age 0 is used once and not kept,
// and it supersedes what was cached.
func TestCacheMaxAgeZero(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	c := cache.New(10, s)
	if err := c.Put(ctx, entryAt(t, "example.com", "old", now, 3600)); err != nil {
		t.Fatal(err)
	}
	zero := entryAt(t, "example.com", "new", now.Add(time.Minute), 0)
	if !zero.Expired(now.Add(time.Minute + time.Second)) {
		t.Fatal("a max_age 0 entry must be expired after the second of its fetch")
	}
	if err := c.Put(ctx, zero); err != nil {
		t.Fatal(err)
	}
	if c.Get("example.com", now) != nil || c.Peek("example.com") != nil || c.Len() != 0 {
		t.Error("the max_age 0 policy or the one it supersedes is still in memory")
	}
	if s.Len() != 0 {
		t.Error("the store still holds an entry")
	}
	// A fresh domain's max_age 0 policy leaves nothing either.
	if err := c.Put(ctx, entryAt(t, "fresh.example", "z", now, 0)); err != nil || c.Len() != 0 || s.Len() != 0 {
		t.Errorf("Put(max_age 0) = %v; memory %d, store %d", err, c.Len(), s.Len())
	}
}

// TestCacheNegative: a negative entry is served as such until it expires.
func TestCacheNegative(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	c := cache.New(10, new(cache.MemoryStore))
	neg := cache.NoPolicy("nope.example", now, now.Add(5*time.Minute)).
		WithFailure(cache.Failure{At: now, ID: "x", Err: "connection refused"})
	if err := c.Put(ctx, neg); err != nil {
		t.Fatal(err)
	}
	e := c.Get("nope.example", now.Add(time.Minute))
	if e == nil || e.Policy() != nil {
		t.Fatalf("Get = %v", e)
	}
	if f, ok := e.LastFailure(); !ok || f.ID != "x" {
		t.Errorf("LastFailure = %+v, %v", f, ok)
	}
	if c.Get("nope.example", now.Add(5*time.Minute+time.Second)) != nil {
		t.Error("negative entry served after it expired")
	}
}

// TestCacheCountBound: memory never holds more than size entries, and
// eviction never removes from the store.
func TestCacheCountBound(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	const size, n = 100, 1000
	c := cache.New(size, s)
	for i := range n {
		if err := c.Put(ctx, entryAt(t, fmt.Sprintf("d%d.example", i), "1", now, 3600)); err != nil {
			t.Fatal(err)
		}
		if c.Len() > size {
			t.Fatalf("after %d puts: Len %d > %d", i+1, c.Len(), size)
		}
	}
	if l, a := c.Len(), count(c); l != a || l < size*9/10 {
		t.Errorf("Len %d, All %d: want equal, and close to %d", l, a, size)
	}
	if s.Len() != n {
		t.Fatalf("store holds %d entries, want all %d", s.Len(), n)
	}
	// Every evicted entry reads through from the store.
	loaded := 0
	for i := range n {
		d := fmt.Sprintf("d%d.example", i)
		if c.Get(d, now) != nil {
			continue
		}
		e, err := c.Load(ctx, d, now)
		if err != nil || e.Domain() != d {
			t.Fatalf("Load %s = %v, %v", d, e, err)
		}
		if c.Get(d, now) == nil {
			t.Fatalf("Load %s did not fill memory", d)
		}
		loaded++
	}
	if loaded < n-size {
		t.Errorf("only %d of %d entries were evicted", loaded, n)
	}
	if c.Len() > size || s.Len() != n {
		t.Errorf("Len %d, store %d", c.Len(), s.Len())
	}
}

// TestCacheRecentlyUsedSurvives: an entry read between insertions is not
// evicted, however many new entries arrive.
func TestCacheRecentlyUsedSurvives(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	const size = 50
	c := cache.New(size, nil)
	hot := []string{"hot1.example", "hot2.example", "hot3.example"}
	for _, d := range hot {
		if err := c.Put(ctx, entryAt(t, d, "1", now, 3600)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 * size {
		if err := c.Put(ctx, entryAt(t, fmt.Sprintf("cold%d.example", i), "1", now, 3600)); err != nil {
			t.Fatal(err)
		}
		for _, d := range hot {
			if c.Get(d, now) == nil {
				t.Fatalf("%s evicted after %d cold insertions", d, i+1)
			}
		}
	}
	// And the cold ones come and go.
	if c.Get("cold0.example", now) != nil {
		t.Error("the oldest cold entry survived 1000 insertions into a cache of 50")
	}
}

// failing is a Store that fails every call, or every call after it is
// broken.
type failing struct {
	cache.MemoryStore
	mu     sync.Mutex
	broken bool
}

var errDown = errors.New("store down")

func (f *failing) down() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.broken
}

func (f *failing) Get(ctx context.Context, d string) (*cache.Entry, error) {
	if f.down() {
		return nil, errDown
	}
	return f.MemoryStore.Get(ctx, d)
}

func (f *failing) Put(ctx context.Context, e *cache.Entry) error {
	if f.down() {
		return errDown
	}
	return f.MemoryStore.Put(ctx, e)
}

func (f *failing) Delete(ctx context.Context, d string) error {
	if f.down() {
		return errDown
	}
	return f.MemoryStore.Delete(ctx, d)
}

func (f *failing) Range(ctx context.Context, fn func(*cache.Entry) bool) error {
	if f.down() {
		return errDown
	}
	return f.MemoryStore.Range(ctx, fn)
}

// TestCacheStoreDown: with the store failing, memory keeps working and
// every error is a *StoreError wrapping the store's.
func TestCacheStoreDown(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := &failing{broken: true}
	c := cache.New(10, s)
	isStoreError := func(op string, err error) {
		t.Helper()
		var se *cache.StoreError
		if !errors.As(err, &se) || se.Op != op || !errors.Is(err, errDown) {
			t.Errorf("%s: %v, want a *StoreError wrapping errDown", op, err)
		}
	}
	isStoreError("put", c.Put(ctx, entryAt(t, "a.example", "1", now, 3600)))
	if c.Get("a.example", now) == nil {
		t.Error("Put failing in the store did not update memory")
	}
	if e, err := c.Load(ctx, "a.example", now); err != nil || e == nil {
		t.Errorf("Load of an entry in memory = %v, %v", e, err)
	}
	_, err := c.Load(ctx, "b.example", now)
	isStoreError("get", err)
	isStoreError("delete", c.Delete(ctx, "a.example"))
	if c.Get("a.example", now) != nil {
		t.Error("Delete failing in the store did not update memory")
	}
	isStoreError("range", c.Purge(ctx))
	_, err = c.Warm(ctx, now)
	isStoreError("range", err)
	_, err = c.Prune(ctx, now)
	isStoreError("range", err)
	if got := (&cache.StoreError{Op: "get", Domain: "x", Err: errDown}).Error(); got != "cache: store get x: store down" {
		t.Errorf("Error() = %q", got)
	}
}

func TestCacheInvalid(t *testing.T) {
	c := cache.New(0, nil)
	if c.Size() != cache.DefaultSize {
		t.Errorf("Size = %d, want %d", c.Size(), cache.DefaultSize)
	}
	for _, e := range []*cache.Entry{nil, cache.NoPolicy("", time.Time{}, time.Time{})} {
		if err := c.Put(context.Background(), e); !errors.Is(err, cache.ErrInvalid) {
			t.Errorf("Put(%v) = %v, want ErrInvalid", e, err)
		}
	}
	if _, err := c.Load(context.Background(), "x.example", storetest.Now()); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Load without a store = %v, want ErrMiss", err)
	}
	if c.Store() != nil {
		t.Error("Store() of a memory-only cache")
	}
}

func TestCacheLoad(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	c := cache.New(10, s)
	// In the store only: read through.
	if err := s.Put(ctx, entryAt(t, "a.example", "1", now, 3600)); err != nil {
		t.Fatal(err)
	}
	if c.Get("a.example", now) != nil {
		t.Fatal("hit before Load")
	}
	if e, err := c.Load(ctx, "a.example", now); err != nil || e.ID() != "1" {
		t.Fatalf("Load = %v, %v", e, err)
	}
	// Expired in the store: a miss, and memory stays empty.
	if err := s.Put(ctx, entryAt(t, "old.example", "1", now.Add(-2*time.Hour), 3600)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(ctx, "old.example", now); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Load of an expired stored entry = %v, want ErrMiss", err)
	}
	if c.Peek("old.example") != nil {
		t.Error("an expired stored entry was loaded into memory")
	}
	// Expired in memory, refreshed in the store by a peer: the peer's
	// entry is served.
	if err := c.Put(ctx, entryAt(t, "b.example", "mine", now.Add(-2*time.Hour), 3600)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, entryAt(t, "b.example", "peer", now.Add(-time.Minute), 3600)); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Load(ctx, "b.example", now); err != nil || e.ID() != "peer" {
		t.Errorf("Load = %v, %v; want the peer's entry", e, err)
	}
	if e := c.Get("b.example", now); e == nil || e.ID() != "peer" {
		t.Errorf("Get after Load = %v", e)
	}
	// A wrong entry from a store (under another key) is a miss.
	if _, err := c.Load(ctx, "c.example", now); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Load = %v", err)
	}
}

// misfiling is a store that returns the entry of another domain.
type misfiling struct{ cache.MemoryStore }

func (m *misfiling) Get(ctx context.Context, d string) (*cache.Entry, error) {
	return m.MemoryStore.Get(ctx, "other.example")
}

func TestCacheLoadWrongDomain(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(misfiling)
	if err := s.Put(ctx, entryAt(t, "other.example", "1", now, 3600)); err != nil {
		t.Fatal(err)
	}
	c := cache.New(10, s)
	if _, err := c.Load(ctx, "x.example", now); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Load = %v, want ErrMiss", err)
	}
}

func TestCacheDeletePurge(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	c := cache.New(5, s)
	for i := range 10 {
		if err := c.Put(ctx, entryAt(t, fmt.Sprintf("d%d.example", i), "1", now, 3600)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, "d9.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(ctx, "d9.example", now); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Load after Delete = %v", err)
	}
	if err := c.Delete(ctx, "never.example"); err != nil {
		t.Errorf("Delete of a missing entry = %v", err)
	}
	if err := c.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 0 || count(c) != 0 || s.Len() != 0 {
		t.Errorf("after Purge: Len %d, All %d, store %d", c.Len(), count(c), s.Len())
	}
	// The cache works after a purge.
	if err := c.Put(ctx, entryAt(t, "d1.example", "2", now, 3600)); err != nil || c.Get("d1.example", now) == nil {
		t.Errorf("Put after Purge: %v", err)
	}
	memOnly := cache.New(5, nil)
	if err := memOnly.Put(ctx, entryAt(t, "x.example", "2", now, 3600)); err != nil {
		t.Fatal(err)
	}
	if err := memOnly.Purge(ctx); err != nil || memOnly.Len() != 0 {
		t.Errorf("Purge of a memory-only cache: %v, Len %d", err, memOnly.Len())
	}
}

func TestCachePrune(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	c := cache.New(100, s)
	for i := range 10 {
		fetched := now.Add(-time.Duration(i) * time.Hour) // d0..d1 valid, d2.. expired
		if err := c.Put(ctx, entryAt(t, fmt.Sprintf("d%d.example", i), "1", fetched, 5400)); err != nil {
			t.Fatal(err)
		}
	}
	// One expired entry only in the store.
	if err := s.Put(ctx, entryAt(t, "s.example", "1", now.Add(-time.Hour), 60)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Prune(ctx, now)
	if err != nil || n != 8 {
		t.Errorf("Prune = %d, %v; want 8", n, err)
	}
	if c.Len() != 2 || s.Len() != 2 {
		t.Errorf("after Prune: memory %d, store %d; want 2 and 2", c.Len(), s.Len())
	}
	for _, d := range []string{"d0.example", "d1.example"} {
		if c.Get(d, now) == nil {
			t.Errorf("Prune removed %s", d)
		}
	}
	if n, err := cache.New(10, nil).Prune(ctx, now); n != 0 || err != nil {
		t.Errorf("Prune of an empty cache = %d, %v", n, err)
	}
}

func TestCacheWarm(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	for i := range 10 {
		fetched := now
		if i >= 8 {
			fetched = now.Add(-2 * time.Hour) // expired
		}
		if err := s.Put(ctx, entryAt(t, fmt.Sprintf("d%d.example", i), "stored", fetched, 3600)); err != nil {
			t.Fatal(err)
		}
	}
	c := cache.New(100, s)
	if err := c.Put(ctx, entryAt(t, "d0.example", "newer", now, 3600)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Warm(ctx, now)
	if err != nil || n != 7 {
		t.Errorf("Warm = %d, %v; want 7", n, err)
	}
	if c.Len() != 8 {
		t.Errorf("Len = %d, want 8", c.Len())
	}
	if e := c.Get("d0.example", now); e == nil || e.ID() != "newer" {
		t.Errorf("Warm replaced a live entry: %v", e)
	}
	small := cache.New(3, s)
	if n, err := small.Warm(ctx, now); err != nil || n < 1 || small.Len() > 3 {
		t.Errorf("Warm of a small cache = %d, %v, Len %d", n, err, small.Len())
	}
	if n, err := cache.New(3, nil).Warm(ctx, now); n != 0 || err != nil {
		t.Errorf("Warm without a store = %d, %v", n, err)
	}
}

// TestCacheAllWhileWriting: All may run while entries change, and its
// loop body may call the cache.
func TestCacheAllWhileWriting(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	c := cache.New(64, nil)
	for i := range 64 {
		if err := c.Put(ctx, entryAt(t, fmt.Sprintf("d%d.example", i), "1", now, 3600)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for e := range c.All() {
		if seen[e.Domain()] {
			t.Errorf("%s listed twice", e.Domain())
		}
		seen[e.Domain()] = true
		if err := c.Put(ctx, entryAt(t, e.Domain(), "2", now, 3600)); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, "d0.example"); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range c.All() {
		n++
		break
	}
	if n != 1 {
		t.Error("breaking out of All")
	}
}

// TestCacheGetAllocs: the hot path allocates nothing.
func TestCacheGetAllocs(t *testing.T) {
	now := storetest.Now()
	c := cache.New(10, nil)
	if err := c.Put(context.Background(), entryAt(t, "example.com", "1", now, 3600)); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(1000, func() {
		if c.Get("example.com", now) == nil {
			t.Fatal("miss")
		}
		c.Get("absent.example", now)
	}); a != 0 {
		t.Errorf("Get allocates %v times", a)
	}
}

// TestCacheConcurrent runs readers against writers, evictions, purges and
// store reads, for the race detector and to check that a reader never sees
// another domain's entry or a torn one.
func TestCacheConcurrent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := storetest.Now()
	s := new(cache.MemoryStore)
	c := cache.New(32, s)
	domains := make([]string, 100)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%d.example", i)
	}
	entries := make([][]*cache.Entry, 2)
	for v := range entries {
		for _, d := range domains {
			entries[v] = append(entries[v], entryAt(t, d, fmt.Sprint(v), now, 3600))
		}
	}
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := (i*7 + g) % len(domains)
				var err error
				switch i % 50 {
				case 0:
					err = c.Delete(ctx, domains[k])
				case 1:
					_, err = c.Prune(ctx, now)
				case 2:
					if g == 0 && i%1000 == 2 {
						err = c.Purge(ctx)
					}
				default:
					err = c.Put(ctx, entries[i%2][k])
				}
				if err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for g := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				d := domains[(i*13+g)%len(domains)]
				e := c.Get(d, now)
				if i%10 == 0 {
					var err error
					e, err = c.Load(ctx, d, now)
					if err != nil && !errors.Is(err, cache.ErrMiss) && ctx.Err() == nil {
						t.Error(err)
						return
					}
				}
				if e != nil && (e.Domain() != d || e.Policy() == nil || (e.ID() != "0" && e.ID() != "1")) {
					t.Errorf("Get(%s) = %s id %q", d, e.Domain(), e.ID())
					return
				}
				if c.Len() > 32 {
					t.Errorf("Len %d > 32", c.Len())
					return
				}
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			for e := range c.All() {
				_ = e.Domain()
			}
		}
	})
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
}

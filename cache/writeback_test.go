package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
)

// gatedStore is a MemoryStore whose writes wait until the gate opens (or
// their context ends), as a slow or hung store would, and which counts the
// groups it is given.
type gatedStore struct {
	cache.MemoryStore
	gate   chan struct{}
	down   atomic.Bool // writes fail at once
	mu     sync.Mutex
	groups []int // sizes of the PutMany calls
}

func newGated() *gatedStore { return &gatedStore{gate: make(chan struct{})} }

var errGatedDown = errors.New("store down")

func (s *gatedStore) wait(ctx context.Context) error {
	if s.down.Load() {
		return errGatedDown
	}
	select {
	case <-s.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *gatedStore) Put(ctx context.Context, e *cache.Entry) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.MemoryStore.Put(ctx, e)
}

func (s *gatedStore) Delete(ctx context.Context, d string) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.MemoryStore.Delete(ctx, d)
}

// batchStore adds PutMany to a gatedStore.
type batchStore struct{ *gatedStore }

func (s batchStore) PutMany(ctx context.Context, es []*cache.Entry) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.groups = append(s.groups, len(es))
	s.mu.Unlock()
	for _, e := range es {
		if err := s.MemoryStore.Put(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// errorLog collects what OnStoreError reports.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) { l.mu.Lock(); l.errs = append(l.errs, err); l.mu.Unlock() }

func (l *errorLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

func flush(t *testing.T, c *cache.Cache) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWriteBehindPutDoesNotWait: with the store hung, Put returns at once
// and memory serves the entry; the store gets it once it recovers.
func TestWriteBehindPutDoesNotWait(t *testing.T) {
	s := newGated()
	c := cache.Open(cache.Options{Store: s})
	defer c.Close()
	ctx := context.Background()
	e := storetest.Enforce(t, "slow.example", "1")
	start := time.Now()
	if err := c.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Put took %v with the store hung", took)
	}
	if c.Get("slow.example", storetest.Now()) == nil {
		t.Fatal("not in memory")
	}
	if got, err := c.Load(ctx, "slow.example", storetest.Now()); err != nil || got.ID() != "1" {
		t.Fatalf("Load = %v, %v", got, err)
	}
	close(s.gate)
	flush(t, c)
	if got, err := s.MemoryStore.Get(ctx, "slow.example"); err != nil || storetest.Equal(got, e) != "" {
		t.Fatalf("store after flush: %v, %v", got, err)
	}
	if st := c.WriteStats(); st.Committed != 1 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestWriteBehindCoalesces: the writes of one domain waiting for the store
// collapse into the newest, which keeps the first one's place.
func TestWriteBehindCoalesces(t *testing.T) {
	s := newGated()
	c := cache.Open(cache.Options{Store: batchStore{s}, GroupSize: 4})
	defer c.Close()
	ctx := context.Background()
	// The first write is taken by the writer and waits on the gate; the
	// others wait in the queue.
	must(t, c.Put(ctx, storetest.Enforce(t, "first.example", "1")))
	waitFor(t, func() bool { return c.WriteStats().Pending == 0 })
	for i := range 10 {
		must(t, c.Put(ctx, storetest.Enforce(t, "hot.example", fmt.Sprint(i))))
		must(t, c.Put(ctx, storetest.Enforce(t, fmt.Sprintf("other%d.example", i), "1")))
	}
	if st := c.WriteStats(); st.Coalesced != 9 || st.Pending != 11 {
		t.Errorf("stats %+v, want 9 coalesced, 11 pending", st)
	}
	close(s.gate)
	flush(t, c)
	if got, err := s.MemoryStore.Get(ctx, "hot.example"); err != nil || got.ID() != "9" {
		t.Fatalf("hot.example in store: %v, %v", got, err)
	}
	if s.Len() != 12 {
		t.Errorf("%d entries stored, want 12", s.Len())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Groups of at most 4: 1, then 4, 4, 3 (hot.example in the first).
	if want := []int{1, 4, 4, 3}; fmt.Sprint(s.groups) != fmt.Sprint(want) {
		t.Errorf("groups %v, want %v", s.groups, want)
	}
}

// TestWriteBehindQueueFull: a full queue drops its oldest write, reports
// each drop with ErrQueueFull, and memory keeps every entry.
func TestWriteBehindQueueFull(t *testing.T) {
	s := newGated()
	var log errorLog
	c := cache.Open(cache.Options{Store: s, QueueSize: 4, GroupSize: 1, OnStoreError: log.add})
	ctx := context.Background()
	must(t, c.Put(ctx, storetest.Enforce(t, "d0.example", "1")))
	waitFor(t, func() bool { return c.WriteStats().Pending == 0 }) // d0 is being committed
	for i := 1; i <= 10; i++ {
		must(t, c.Put(ctx, storetest.Enforce(t, fmt.Sprintf("d%d.example", i), "1")))
	}
	for i := 0; i <= 10; i++ {
		if c.Get(fmt.Sprintf("d%d.example", i), storetest.Now()) == nil {
			t.Errorf("d%d.example not in memory", i)
		}
	}
	close(s.gate)
	flush(t, c)
	c.Close()
	st := c.WriteStats()
	if st.Dropped != 6 || st.Committed != 5 {
		t.Errorf("stats %+v, want 6 dropped, 5 committed", st)
	}
	var dropped []string
	for _, err := range log.all() {
		var se *cache.StoreError
		if !errors.As(err, &se) || !errors.Is(err, cache.ErrQueueFull) {
			t.Errorf("reported %v, want a StoreError wrapping ErrQueueFull", err)
			continue
		}
		dropped = append(dropped, se.Domain)
	}
	// The oldest pending writes went first: d1..d6; d0 was committing.
	if want := "[d1.example d2.example d3.example d4.example d5.example d6.example]"; fmt.Sprint(dropped) != want {
		t.Errorf("dropped %v, want %s", dropped, want)
	}
	for _, d := range []string{"d0.example", "d7.example", "d10.example"} {
		if _, err := s.MemoryStore.Get(ctx, d); err != nil {
			t.Errorf("%s not stored: %v", d, err)
		}
	}
}

// TestWriteBehindDeleteOrder: a Delete after a pending Put waits for the
// store and wins; a Load never reads the store past a pending write.
func TestWriteBehindDeleteOrder(t *testing.T) {
	s := newGated()
	c := cache.Open(cache.Options{Store: s, Size: 2})
	defer c.Close()
	ctx := context.Background()
	must(t, s.MemoryStore.Put(ctx, storetest.Enforce(t, "a.example", "old")))
	must(t, c.Put(ctx, storetest.Enforce(t, "a.example", "new")))
	// Evict a.example from memory: Load must answer from the queue.
	must(t, c.Put(ctx, storetest.Enforce(t, "b.example", "1")))
	must(t, c.Put(ctx, storetest.Enforce(t, "c.example", "1")))
	must(t, c.Put(ctx, storetest.Enforce(t, "d.example", "1")))
	if got, err := c.Load(ctx, "a.example", storetest.Now()); err != nil || got.ID() != "new" {
		t.Fatalf("Load = %v, %v; want the pending entry", got, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Delete(ctx, "a.example") }()
	select {
	case err := <-done:
		t.Fatalf("Delete returned %v with the store hung", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(s.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := s.MemoryStore.Get(ctx, "a.example"); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("store after Delete: %v", err)
	}
	if _, err := c.Load(ctx, "a.example", storetest.Now()); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Load after Delete: %v", err)
	}
}

// TestWriteBehindCloseFlushes: Close commits what is pending; after it,
// writes report that the store no longer gets them.
func TestWriteBehindCloseFlushes(t *testing.T) {
	dir := t.TempDir()
	s := &cache.DirStore{Dir: dir}
	c := cache.Open(cache.Options{Store: s})
	ctx := context.Background()
	for i := range 300 {
		must(t, c.Put(ctx, storetest.Enforce(t, fmt.Sprintf("c%d.example", i), "1")))
	}
	c.Close()
	n := 0
	must(t, s.Range(ctx, func(*cache.Entry) bool { n++; return true }))
	if n != 300 {
		t.Errorf("%d entries stored after Close, want 300", n)
	}
	var se *cache.StoreError
	if err := c.Put(ctx, storetest.Enforce(t, "late.example", "1")); !errors.As(err, &se) {
		t.Errorf("Put after Close = %v, want a StoreError", err)
	}
	if c.Get("late.example", storetest.Now()) == nil {
		t.Error("Put after Close did not update memory")
	}
}

// TestWriteBehindCloseDeadStore: Close does not wait for a dead store once
// per group: after a group fails, the rest is dropped and reported.
func TestWriteBehindCloseDeadStore(t *testing.T) {
	s := newGated()
	s.down.Store(true)
	var log errorLog
	c := cache.Open(cache.Options{Store: s, GroupSize: 2, OnStoreError: log.add})
	ctx := context.Background()
	for i := range 10 {
		must(t, c.Put(ctx, storetest.Enforce(t, fmt.Sprintf("x%d.example", i), "1")))
	}
	c.Close()
	st := c.WriteStats()
	if st.Committed != 0 || st.Failed+st.Dropped != 10 {
		t.Errorf("stats %+v: every write must fail or be dropped", st)
	}
	if n := len(log.all()); n != 10 {
		t.Errorf("%d reports, want 10", n)
	}
	for _, err := range log.all() {
		if !errors.Is(err, errGatedDown) && !errors.Is(err, cache.ErrStoreDown) {
			t.Errorf("reported %v", err)
		}
	}
}

// TestWriteBehindPurge: Purge discards pending writes and empties the
// store.
func TestWriteBehindPurge(t *testing.T) {
	s := newGated()
	c := cache.Open(cache.Options{Store: s})
	defer c.Close()
	ctx := context.Background()
	must(t, s.MemoryStore.Put(ctx, storetest.Enforce(t, "stored.example", "1")))
	must(t, c.Put(ctx, storetest.Enforce(t, "pending.example", "1")))
	close(s.gate)
	must(t, c.Purge(ctx))
	flush(t, c)
	if s.Len() != 0 || c.Len() != 0 {
		t.Errorf("after Purge: %d stored, %d in memory", s.Len(), c.Len())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOpenWarmsInBackground: Open returns before the store is read;
// the warm loads the unexpired entries, keeps what memory has newer, and
// reports its progress.
func TestOpenWarmsInBackground(t *testing.T) {
	ctx := context.Background()
	now := storetest.Now()
	inner := &cache.MemoryStore{}
	for i := range 100 {
		must(t, inner.Put(ctx, storetest.Enforce(t, fmt.Sprintf("w%d.example", i), "stored")))
	}
	must(t, inner.Put(ctx, cache.NewEntry("old.example", "1", storetest.Policy(t, "enforce", 60, "mx.example.net"), now.Add(-time.Hour))))
	s := &hungRange{MemoryStore: inner, release: make(chan struct{})}
	warmed := make(chan cache.WarmProgress, 1)
	c := cache.Open(cache.Options{Store: s, Warm: true, Clock: storetest.Now, OnWarmed: func(p cache.WarmProgress) { warmed <- p }})
	defer c.Close()
	if p := c.Warming(); p.Done {
		t.Fatalf("Warming = %+v before the store answered", p)
	}
	// Memory learns a newer entry while the store is being read.
	must(t, c.Put(ctx, storetest.Enforce(t, "w7.example", "newer")))
	close(s.release)
	p := <-warmed
	if !p.Done || p.Err != nil || p.Seen != 101 || p.Loaded != 99 {
		t.Errorf("progress %+v, want 101 seen, 99 loaded", p)
	}
	if e := c.Get("w7.example", now); e == nil || e.ID() != "newer" {
		t.Errorf("w7.example = %v, want the newer entry", e)
	}
	if c.Peek("old.example") != nil {
		t.Error("an expired stored entry was loaded")
	}
	if c.Len() != 100 {
		t.Errorf("%d entries in memory, want 100", c.Len())
	}
}

// TestOpenCloseStopsWarm: Close does not wait for a hung store's Range.
func TestOpenCloseStopsWarm(t *testing.T) {
	s := &hungRange{MemoryStore: &cache.MemoryStore{}, release: make(chan struct{})}
	c := cache.Open(cache.Options{Store: s, Warm: true})
	c.Close()
	if p := c.Warming(); !p.Done || !errors.Is(p.Err, context.Canceled) {
		t.Errorf("after Close: %+v", p)
	}
}

// hungRange is a MemoryStore whose Range waits for release or its context.
type hungRange struct {
	*cache.MemoryStore
	release chan struct{}
}

func (s *hungRange) Range(ctx context.Context, f func(*cache.Entry) bool) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.MemoryStore.Range(ctx, f)
}

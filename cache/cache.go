package cache

import (
	"context"
	"errors"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultSize is the number of entries a Cache keeps in memory when New is
// given no size: enough for the domains a busy MTA sends to in a week, in
// about 40 MB.
const DefaultSize = 100_000

// maxChances bounds the second chances given per eviction, so that one
// insertion does bounded work even when every entry is in use.
const maxChances = 32

// ReadBackoff is how long [Cache.Load], for a Cache made by [Open], leaves
// the store alone after a failed read.
const ReadBackoff = 5 * time.Second

// stripes is the number of locks that serialise the writes of one domain
// across memory and store.
const stripes = 64

// Cache holds entries in memory, bounded by count, in front of an optional
// [Store]. Its methods are safe for concurrent use, and [Cache.Get], the
// hot path, takes no lock and allocates nothing.
//
// Memory is a cache of the store, never the other way round: an entry
// evicted from memory stays in the store, a miss in memory reads through
// the store ([Cache.Load]), and writes go to both ([Cache.Put],
// [Cache.Delete], [Cache.Purge]).
//
// Eviction approximates least recently used, as the CLOCK algorithm does,
// with golang-lru keeping the order. To keep its bookkeeping off the read
// path, readers only set a per-entry "used" bit. golang-lru orders the
// buckets of the hash index (about 1.6 entries each when memory is full)
// rather than single entries, which saves 40 of the 100 bytes per entry that
// its bookkeeping would cost: an insertion into a full cache takes the bucket least recently
// inserted into, evicts its entries whose bit is clear, clears the others'
// bits and moves the bucket to the front (a second chance). A recently read
// entry therefore survives eviction.
//
// The Cache keeps no clock: the caller passes the time to each method that
// needs one. A Cache must not be copied.
type Cache struct {
	store Store
	size  int
	idx   index // read without locks

	mu  sync.Mutex                       // guards the fields below and writes to idx
	lru *simplelru.LRU[uint32, struct{}] // the non-empty buckets, least recently inserted into first
	n   int                              // entries in memory

	// Each domain hashes to one of these locks, held across the memory and
	// the store part of Put, Delete and Load, so that memory and store see
	// the writes of one domain in the same order.
	locks [stripes]sync.Mutex

	// Set by Open: the write-behind queue (nil: writes reach the store
	// before Put returns, as New makes them), the background warm.
	q         *writeQueue
	timeout   time.Duration
	onError   func(error)
	warm      warmState
	stopWarm  context.CancelFunc
	warmDone  chan struct{}
	closeOnce sync.Once
	// Load reads no store before this time (Unix ns), after a failure.
	readsOffUntil atomic.Int64
}

// New returns a Cache keeping at most size entries in memory (DefaultSize if
// size <= 0), in front of store (nil for memory only), whose writes reach
// the store before they return: [Open] takes them off the caller's path.
// Memory for an index of up to size entries (8 bytes each, at most 8 MiB)
// is allocated at once.
func New(size int, store Store) *Cache {
	if size <= 0 {
		size = DefaultSize
	}
	idx := newIndex(size)
	// simplelru fails only for a size <= 0. It holds buckets, so it never
	// evicts by itself: the Cache does, by entry count.
	lru, _ := simplelru.NewLRU[uint32, struct{}](len(idx.buckets)+1, nil)
	return &Cache{store: store, size: size, idx: idx, lru: lru}
}

// Store returns the store behind c, or nil.
func (c *Cache) Store() Store { return c.store }

// Get returns the entry of domain if it is in memory and unexpired at now,
// or nil. It never reads the store: that is [Cache.Load]. Get is the hot
// path: no lock, no allocation, no clock read.
func (c *Cache) Get(domain string, now time.Time) *Entry {
	b := c.idx.bucket(domain)
	n := c.idx.find(b, domain)
	if n == nil || n.e.Expired(now) {
		return nil
	}
	n.markUsed()
	return &n.e
}

// Peek returns the entry of domain in memory, expired or not, or nil,
// without marking it used. An expired policy must not be applied (RFC 8461
// section 3.3); Peek is for inspection, such as noticing that a refetched
// policy differs from the one that expired.
func (c *Cache) Peek(domain string) *Entry {
	if n := c.idx.find(c.idx.bucket(domain), domain); n != nil {
		return &n.e
	}
	return nil
}

// Load returns the entry of domain unexpired at now, from memory or else
// from the store, which then fills memory. It returns an error wrapping
// ErrMiss when neither has one, and a [*StoreError] when the store fails.
// For a Cache made by [Open], a write not yet committed is read instead of
// the store, and after a failure of the store Load answers ErrMiss without
// asking it for ReadBackoff, so that a dead store costs a delivery its
// timeout once, not every time.
//
// An expired entry in memory does not end the search: a peer sharing the
// store may have refreshed it.
func (c *Cache) Load(ctx context.Context, domain string, now time.Time) (*Entry, error) {
	if e := c.Get(domain, now); e != nil {
		return e, nil
	}
	if c.store == nil {
		return nil, ErrMiss
	}
	if c.q != nil {
		// A write not yet committed is newer than the store.
		if e, ok := c.q.peek(domain); ok {
			return c.loadPending(domain, e, now)
		}
	}
	if c.q != nil && now.UnixNano() < c.readsOffUntil.Load() {
		return nil, ErrMiss // the store failed lately: do not wait for it
	}
	// The store is read without the domain's lock, so that a slow store
	// holds up only this call; what memory gained meanwhile wins.
	e, err := c.store.Get(ctx, domain)
	switch {
	case errors.Is(err, ErrMiss):
		return nil, ErrMiss
	case err != nil:
		if c.q != nil && !errors.Is(err, context.Canceled) {
			c.readsOffUntil.Store(now.Add(ReadBackoff).UnixNano())
		}
		return nil, &StoreError{Op: "get", Domain: domain, Err: err}
	case !e.valid() || e.domain != domain || e.Expired(now):
		return nil, ErrMiss
	}
	lk := c.lock(domain)
	lk.Lock()
	defer lk.Unlock()
	if cur := c.Get(domain, now); cur != nil {
		return cur, nil // put or loaded by another caller meanwhile
	}
	if c.q != nil {
		if _, ok := c.q.peek(domain); ok {
			return nil, ErrMiss // put and evicted, or deleted, meanwhile
		}
	}
	return &c.insert(e).e, nil
}

// loadPending is Load's answer when the store has a write of domain
// pending: e, or a miss if it is a delete or expired.
func (c *Cache) loadPending(domain string, e *Entry, now time.Time) (*Entry, error) {
	if e == nil || e.Expired(now) {
		return nil, ErrMiss
	}
	lk := c.lock(domain)
	lk.Lock()
	defer lk.Unlock()
	if cur := c.Get(domain, now); cur != nil {
		return cur, nil
	}
	return &c.insert(e).e, nil
}

// Put makes e the entry of its domain, in memory and in the store.
//
// An entry that expires no later than its last check, such as one of a
// policy with max_age 0, is not kept: RFC 8461 says to use such a policy
// for the delivery at hand and not to store it, and it supersedes what was
// cached, so Put then deletes the domain's entry from memory and store.
//
// When the store fails, memory is updated all the same and Put returns a
// [*StoreError]. It returns ErrInvalid for an entry without a domain.
//
// For a Cache made by [Open], Put returns once memory holds the entry,
// without waiting for the store: the write is queued, and its failure
// reported to Options.OnStoreError.
func (c *Cache) Put(ctx context.Context, e *Entry) error {
	if !e.valid() {
		return ErrInvalid
	}
	if c.q != nil {
		return c.putBehind(e)
	}
	if !e.keep() {
		return c.Delete(ctx, e.domain)
	}
	lk := c.lock(e.domain)
	lk.Lock()
	defer lk.Unlock()
	c.insert(e)
	if c.store == nil {
		return nil
	}
	if err := c.store.Put(ctx, e); err != nil {
		return &StoreError{Op: "put", Domain: e.domain, Err: err}
	}
	return nil
}

// Touch replaces, in memory only, the domain's entry with e when memory
// holds a version of the same policy (same id, policy and expiry): a newer
// check time or failure record. It is for changes not worth a store write,
// such as a TXT check that found the same id (a resolver revalidates every
// few minutes; a restart or a peer only revalidates a little sooner for not
// knowing it), and it never takes a lock that store I/O holds. When memory
// holds another policy, or none, Touch does nothing: what was put meanwhile
// wins.
func (c *Cache) Touch(e *Entry) error {
	if !e.valid() {
		return ErrInvalid
	}
	b := c.idx.bucket(e.domain)
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.idx.find(b, e.domain)
	if cur == nil || cur.e.id != e.id || cur.e.policy != e.policy || cur.e.expires != e.expires {
		return nil
	}
	n := &node{e: *e}
	if cur.used.Load() != 0 {
		n.used.Store(1)
	}
	c.idx.put(b, n)
	return nil
}

// Delete removes the entry of domain from memory and from the store. When
// the store fails, the entry is gone from memory all the same and Delete
// returns a [*StoreError]. For a Cache made by [Open], the delete goes
// through the write-behind queue (after the domain's pending write, if
// any) and Delete waits for it, or for ctx.
func (c *Cache) Delete(ctx context.Context, domain string) error {
	if c.q != nil {
		return c.deleteBehind(ctx, []string{domain})
	}
	lk := c.lock(domain)
	lk.Lock()
	defer lk.Unlock()
	c.remove(domain)
	if c.store == nil {
		return nil
	}
	if err := c.store.Delete(ctx, domain); err != nil {
		return &StoreError{Op: "delete", Domain: domain, Err: err}
	}
	return nil
}

// Purge removes every entry from memory and from the store (through
// [Store.Range] and [Store.Delete]; for a shared store, that is for the
// whole fleet). Entries put while Purge runs may survive it.
func (c *Cache) Purge(ctx context.Context) error {
	c.mu.Lock()
	c.idx.clear()
	c.lru.Purge()
	c.n = 0
	c.mu.Unlock()
	if c.store == nil {
		return nil
	}
	if c.q != nil {
		c.q.discard()
		if err := c.Flush(ctx); err != nil { // the group being committed
			return err
		}
	}
	var domains []string
	err := c.store.Range(ctx, func(e *Entry) bool {
		domains = append(domains, e.domain)
		return true
	})
	if err != nil {
		return &StoreError{Op: "range", Err: err}
	}
	if c.q != nil {
		return c.deleteBehind(ctx, domains)
	}
	for _, d := range domains {
		if err := c.Delete(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// Prune removes the entries expired at now from memory and from the store,
// and returns how many it removed from memory. A store such as Redis drops
// expired entries by itself; a directory keeps them until pruned.
func (c *Cache) Prune(ctx context.Context, now time.Time) (int, error) {
	type found struct {
		b uint32
		n *node
	}
	var expired []found
	c.idx.all(func(b uint32, n *node) bool {
		if n.e.Expired(now) {
			expired = append(expired, found{b, n})
		}
		return true
	})
	removed := 0
	c.mu.Lock()
	for _, f := range expired {
		if c.unlink(f.b, f.n) { // not replaced meanwhile
			removed++
		}
	}
	c.mu.Unlock()
	if c.store == nil {
		return removed, nil
	}
	var domains []string
	err := c.store.Range(ctx, func(e *Entry) bool {
		if e.Expired(now) {
			domains = append(domains, e.domain)
		}
		return true
	})
	if err != nil {
		return removed, &StoreError{Op: "range", Err: err}
	}
	if c.q != nil {
		return removed, c.pruneBehind(ctx, domains, now)
	}
	for _, d := range domains {
		if err := c.pruneStored(ctx, d, now); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// pruneStored deletes domain's stored entry if it is still expired: it may
// have been refreshed since Range saw it.
func (c *Cache) pruneStored(ctx context.Context, domain string, now time.Time) error {
	lk := c.lock(domain)
	lk.Lock()
	defer lk.Unlock()
	e, err := c.store.Get(ctx, domain)
	switch {
	case errors.Is(err, ErrMiss):
		return nil
	case err != nil:
		return &StoreError{Op: "get", Domain: domain, Err: err}
	case !e.Expired(now):
		return nil
	}
	if err := c.store.Delete(ctx, domain); err != nil {
		return &StoreError{Op: "delete", Domain: domain, Err: err}
	}
	return nil
}

// All returns the entries in memory, expired ones included, in no
// particular order. It takes no lock: entries put or removed while it runs
// may or may not be seen, and the loop body may call c's methods.
func (c *Cache) All() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		c.idx.all(func(_ uint32, n *node) bool { return yield(&n.e) })
	}
}

// Len returns the number of entries in memory, expired ones included.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Size returns the most entries c keeps in memory.
func (c *Cache) Size() int { return c.size }

func (c *Cache) lock(domain string) *sync.Mutex {
	return &c.locks[c.idx.hash(domain)>>58] // the top 6 bits: 64 stripes
}

// insert copies e into a new node, publishes it in place of the domain's
// current one, making room by evicting from memory only, and returns it.
func (c *Cache) insert(e *Entry) *node {
	n := &node{e: *e}
	b := c.idx.bucket(e.domain)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insertLocked(b, n)
	return n
}

// insertLocked publishes n in bucket b. The caller holds c.mu.
func (c *Cache) insertLocked(b uint32, n *node) {
	e := &n.e
	if c.idx.find(b, e.domain) == nil {
		// Before linking n: making room may empty bucket b.
		c.makeRoom()
		c.n++
	}
	c.idx.put(b, n)
	if _, ok := c.lru.Get(b); !ok { // Get moves b to the front
		c.lru.Add(b, struct{}{})
	}
}

// remove removes the entry of domain from memory, if it is there.
func (c *Cache) remove(domain string) {
	b := c.idx.bucket(domain)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.idx.find(b, domain); n != nil {
		c.unlink(b, n)
	}
}

// unlink removes node n of bucket b, reporting whether it was there. The
// caller holds c.mu.
func (c *Cache) unlink(b uint32, n *node) bool {
	removed, empty := c.idx.remove(b, n)
	if removed {
		c.n--
	}
	if empty {
		c.lru.Remove(b)
	}
	return removed
}

// makeRoom evicts until there is room for one more entry. It takes the
// least recently inserted bucket, evicts its entries not read since they
// were last considered, and if any remain, gives the bucket a second chance
// at the front; after maxChances second chances, it evicts a whole bucket.
// The caller holds c.mu.
func (c *Cache) makeRoom() {
	for chances := 0; c.n >= c.size; {
		b, _, ok := c.lru.GetOldest()
		if !ok {
			return
		}
		removed, kept := c.idx.evict(b, chances >= maxChances)
		c.n -= removed
		if kept == 0 {
			c.lru.RemoveOldest()
			continue
		}
		c.lru.Get(b) // to the front
		if removed == 0 {
			chances++
		}
	}
}

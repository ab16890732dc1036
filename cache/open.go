package cache

import (
	"context"
	"errors"
	"time"
)

// Options configure a Cache made by [Open]. Every field is optional.
type Options struct {
	// Size bounds the entries kept in memory. Default DefaultSize.
	Size int

	// Store keeps entries across restarts or shares them among a fleet.
	// Default: none, memory only.
	Store Store

	// QueueSize bounds the writes waiting for the store: one per domain,
	// a newer write of a domain replacing its pending one. When the queue
	// is full, the oldest pending write is dropped (memory keeps the
	// entry) and reported with ErrQueueFull. Default DefaultQueueSize.
	QueueSize int

	// GroupSize bounds the writes committed to the store at once.
	// Default DefaultGroupSize.
	GroupSize int

	// StoreTimeout bounds each group's commit. Default DefaultStoreTimeout.
	StoreTimeout time.Duration

	// Warm, if set, makes Open start loading the store's unexpired
	// entries into memory in the background ([Cache.Warm]); see
	// [Cache.Warming] for its progress.
	Warm bool

	// Clock gives the time that decides, for the background warm, which
	// stored entries have expired. Default time.Now.
	Clock func() time.Time

	// OnStoreError, if not nil, is called with each failure of the
	// background work, as a *StoreError: a write the store refused, a
	// write dropped because the queue was full (wrapping ErrQueueFull),
	// a failed warm. It is called from the Cache's own goroutines, one at
	// a time, and must not call Close.
	OnStoreError func(error)

	// OnWarmed, if not nil, is called once when the background warm
	// ends, from its goroutine, with the final progress.
	OnWarmed func(WarmProgress)
}

// Open returns a Cache whose store writes are taken off the caller's path:
// [Cache.Put] returns once memory holds the entry, and a goroutine commits
// the writes to the store in groups, through [BatchStore.PutMany] when the
// store has it. With opts.Warm, the stored entries are loaded into memory
// in the background, and Open does not wait for them. Close the Cache to
// commit what is pending and stop its goroutines.
//
// What a crash can lose: the writes not yet committed. In count, at most
// QueueSize pending writes plus one group (GroupSize) being committed:
// 4 352 with the defaults. In time, a write waits only for the groups
// ahead of it: when the store keeps up, the group being committed (0.1 to
// 0.25 s for 256 entries of a DirStore on the project's shared test
// machine, a few milliseconds for Redis on loopback), and at worst
// QueueSize/GroupSize + 1 groups (17 with the defaults, a few seconds on
// that machine). A committed
// write is never lost, and none is ever read torn. Memory is not
// affected: entries are served from memory whatever the store does, and
// one whose write was dropped or refused is written again the next time
// its domain is put.
//
// While the background warm runs, a miss in memory is answered from the
// store by [Cache.Load] (as it always is), so that a restart neither
// refetches a stored policy nor waits for the whole store.
func Open(opts Options) *Cache {
	c := New(opts.Size, opts.Store)
	c.timeout = opts.StoreTimeout
	if c.timeout <= 0 {
		c.timeout = DefaultStoreTimeout
	}
	if opts.Store == nil {
		return c
	}
	limit, group := opts.QueueSize, opts.GroupSize
	if limit <= 0 {
		limit = DefaultQueueSize
	}
	if group <= 0 {
		group = DefaultGroupSize
	}
	c.onError = opts.OnStoreError
	c.q = newWriteQueue(opts.Store, limit, group, c.timeout, opts.OnStoreError)
	if !opts.Warm {
		return c
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopWarm = cancel
	c.warm.running.Store(true)
	c.warmDone = make(chan struct{})
	go func() {
		defer close(c.warmDone)
		_, err := c.Warm(ctx, clock())
		if err != nil {
			c.warm.err.Store(&err)
		}
		c.warm.running.Store(false)
		c.q.maybeSnapshot() // the warm may have found the store's snapshot stale
		if err != nil && c.onError != nil && ctx.Err() == nil {
			c.onError(err)
		}
		if opts.OnWarmed != nil {
			opts.OnWarmed(c.Warming())
		}
	}()
	return c
}

// Flush waits until every write queued before the call has been
// committed to the store (or refused, or dropped: each reported to
// OnStoreError), or until ctx is done. For a Cache made by New, whose
// writes are synchronous, it returns at once.
func (c *Cache) Flush(ctx context.Context) error {
	if c.q == nil {
		return nil
	}
	select {
	case <-c.q.barrier():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteStats returns what the write-behind queue did since [Open]; the
// zero WriteStats for a Cache made by New.
func (c *Cache) WriteStats() WriteStats {
	if c.q == nil {
		return WriteStats{}
	}
	return c.q.stats()
}

// Close stops the background warm, commits the pending writes and stops
// the Cache's goroutines, returning once they have stopped. When the store
// refuses a whole group while closing, the writes still pending are
// dropped and reported (wrapping ErrStoreDown), so that Close waits for a
// dead store about once, not once per group. Memory stays usable after
// Close, but writes no longer reach the store: Put and Delete then
// return a *StoreError. Close is idempotent; for a Cache made by New it
// does nothing.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		if c.stopWarm != nil {
			c.stopWarm()
			<-c.warmDone
		}
		if c.q != nil {
			c.q.close()
		}
	})
	return nil
}

// putBehind is Put for a Cache made by Open: memory now, the store later.
func (c *Cache) putBehind(e *Entry) error {
	lk := c.lock(e.domain)
	lk.Lock()
	defer lk.Unlock()
	w := &write{domain: e.domain, e: e}
	if e.keep() {
		c.insert(e)
	} else {
		// Used once, never kept: it supersedes what was stored.
		c.remove(e.domain)
		w.e = nil
	}
	if !c.q.add(w) {
		return &StoreError{Op: "put", Domain: e.domain, Err: errClosed}
	}
	return nil
}

// deleteBehind removes domains from memory, queues their deletes and
// waits for them, or for ctx. It returns the first failure.
func (c *Cache) deleteBehind(ctx context.Context, domains []string) error {
	var first error
	waits := make([]chan error, 0, len(domains))
	for _, d := range domains {
		done := make(chan error, 1)
		w := &write{domain: d, done: done}
		lk := c.lock(d)
		lk.Lock()
		c.remove(d)
		if c.q.add(w) {
			waits = append(waits, done)
		} else if first == nil {
			first = &StoreError{Op: "delete", Domain: d, Err: errClosed}
		}
		lk.Unlock()
	}
	for _, done := range waits {
		select {
		case err := <-done:
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

// pruneBehind deletes from the store the domains whose stored entries were
// expired at now, unless memory or the queue has a newer entry.
func (c *Cache) pruneBehind(ctx context.Context, domains []string, now time.Time) error {
	var stale []string
	for _, d := range domains {
		e, err := c.store.Get(ctx, d) // it may have been refreshed since
		switch {
		case errors.Is(err, ErrMiss):
			continue
		case err != nil:
			return &StoreError{Op: "get", Domain: d, Err: err}
		case !e.Expired(now) || c.Get(d, now) != nil || c.pendingWrite(d):
			continue
		}
		stale = append(stale, d)
	}
	if len(stale) == 0 {
		return nil
	}
	return c.deleteBehind(ctx, stale)
}

package cache

import (
	"context"
	"sync/atomic"
	"time"
)

// WarmProgress says how far the loading of stored entries into memory has
// gone ([Cache.Warming]).
type WarmProgress struct {
	Seen   int   // stored entries read so far
	Loaded int   // of those, put in memory (unexpired, and not newer in memory)
	Done   bool  // the warm is over: finished, failed or stopped by Close
	Err    error // why it ended early, if it did: a *StoreError or the context's error
}

// warmState is the progress of a Cache's warm, read without locks.
type warmState struct {
	seen, loaded atomic.Int64
	running      atomic.Bool
	err          atomic.Pointer[error]
}

// Warm fills memory from the store with the entries unexpired at now, until
// memory is full, and returns how many it loaded. An entry already in
// memory and unexpired is kept, and so is a newer write waiting for the
// store. A resolver warms its cache at start so that its refresh loop sees
// every stored policy; [Cache.Warming] tells how far it has gone.
func (c *Cache) Warm(ctx context.Context, now time.Time) (int, error) {
	c.warm.seen.Store(0)
	c.warm.loaded.Store(0)
	if c.store == nil {
		return 0, nil
	}
	loaded := 0
	// Store.Range lets f call the store (it holds no lock that they
	// need), so entries go to memory as they come: no list of a million.
	err := c.store.Range(ctx, func(e *Entry) bool {
		c.warm.seen.Add(1)
		if !e.valid() || e.Expired(now) {
			return true
		}
		added, full := c.warmInsert(e, now)
		if added {
			loaded++
			c.warm.loaded.Add(1)
		}
		return !full
	})
	if err != nil {
		return loaded, &StoreError{Op: "range", Err: err}
	}
	return loaded, nil
}

// pendingWrite reports whether a write of domain waits for the store.
func (c *Cache) pendingWrite(domain string) bool {
	if c.q == nil {
		return false
	}
	_, ok := c.q.peek(domain)
	return ok
}

// warmInsert inserts e for Warm, under one lock, unless memory is full
// (which it reports), holds an unexpired entry of the domain, or has a
// write of it waiting for the store: those are newer. Put inserts under
// the same lock, so whichever comes second sees the other.
func (c *Cache) warmInsert(e *Entry, now time.Time) (added, full bool) {
	b := c.idx.bucket(e.domain)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= c.size {
		return false, true
	}
	if cur := c.idx.find(b, e.domain); cur != nil && !cur.e.Expired(now) || c.pendingWrite(e.domain) {
		return false, false
	}
	c.insertLocked(b, &node{e: *e})
	return true, false
}

// Warming returns the progress of the loading of stored entries into
// memory: of the background warm of [Open], or of the last [Cache.Warm].
// Done is true when no warm runs.
func (c *Cache) Warming() WarmProgress {
	p := WarmProgress{
		Seen:   int(c.warm.seen.Load()),
		Loaded: int(c.warm.loaded.Load()),
		Done:   !c.warm.running.Load(),
	}
	if err := c.warm.err.Load(); err != nil {
		p.Err = *err
	}
	return p
}

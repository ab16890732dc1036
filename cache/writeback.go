package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the write-behind queue of a Cache made by [Open].
const (
	// DefaultQueueSize bounds the writes waiting for the store.
	DefaultQueueSize = 4096
	// DefaultGroupSize bounds the writes committed to the store at once.
	DefaultGroupSize = 256
	// DefaultStoreTimeout bounds each commit of a group, each store read
	// of a miss, and Warm's reading of the whole store.
	DefaultStoreTimeout = 10 * time.Second
)

// ErrQueueFull is wrapped by the [*StoreError] reported for each write
// dropped because the write-behind queue was full.
var ErrQueueFull = errors.New("cache: write-behind queue full")

// ErrStoreDown is wrapped by the [*StoreError] reported for each write
// dropped by Close after the store refused a whole group: Close does not
// wait for a dead store once per group.
var ErrStoreDown = errors.New("cache: store refused a whole group")

// errClosed answers a write made after Close.
var errClosed = errors.New("cache: closed")

// BatchStore is a [Store] that can commit several writes at once, more
// cheaply than one by one: [DirStore] syncs its directory once per group,
// cache/redisstore sends one pipeline. The write-behind queue of a Cache
// made by [Open] uses it when its store has it, and Put otherwise.
type BatchStore interface {
	Store
	// PutMany stores each entry as Put would, the entries being of
	// distinct domains. It returns when all of them are durable, or an
	// error saying which were not: a *BatchError, or any other error for
	// all of them. Entries not named by the error are stored.
	PutMany(ctx context.Context, es []*Entry) error
}

// PutMany stores es in s as one group when s is a [BatchStore], and
// otherwise with one Put each. It returns what [BatchStore.PutMany]
// returns: nil, a *BatchError naming the entries not stored, or another
// error for all of them. A Store that wraps another can implement
// BatchStore with it, whatever the other is.
func PutMany(ctx context.Context, s Store, es []*Entry) error {
	if b, ok := s.(BatchStore); ok {
		return b.PutMany(ctx, es)
	}
	failed := make(map[string]error)
	for _, e := range es {
		if err := s.Put(ctx, e); err != nil {
			failed[e.domain] = err
		}
	}
	if len(failed) > 0 {
		return &BatchError{Failed: failed}
	}
	return nil
}

// BatchError is returned by [BatchStore.PutMany] when some of the entries
// could not be stored.
type BatchError struct {
	Failed map[string]error // the domains not stored, and why
}

// Error describes the first failure and counts the others.
func (e *BatchError) Error() string {
	for d, err := range e.Failed {
		if len(e.Failed) == 1 {
			return fmt.Sprintf("cache: put %s: %v", d, err)
		}
		return fmt.Sprintf("cache: put %s: %v (and %d more)", d, err, len(e.Failed)-1)
	}
	return "cache: put: no failure"
}

// WriteStats count what the write-behind queue of a Cache did since [Open].
type WriteStats struct {
	Queued    uint64 // writes accepted (puts and deletes)
	Coalesced uint64 // writes replaced, before they reached the store, by a newer write of their domain
	Dropped   uint64 // writes dropped because the queue was full (each reported with ErrQueueFull)
	Committed uint64 // writes that reached the store
	Failed    uint64 // writes that the store refused (each reported as a *StoreError)
	Groups    uint64 // commits to the store
	Pending   int    // writes waiting now, not counting the group being committed
}

// write is one pending change of a domain: a put of e, or a delete when e
// is nil. done, if not nil, receives the outcome (a Delete waits for it).
type write struct {
	domain string
	e      *Entry
	done   chan error
	dead   bool // superseded, dropped or discarded: skip it
}

// finish reports the write's outcome to its waiter, if any.
func (w *write) finish(err error) {
	if w.done != nil {
		w.done <- err // buffered, used once
		w.done = nil
	}
}

// writeQueue is the write-behind queue: one pending write per domain, in
// the order domains were first queued, committed by one goroutine in
// groups. Memory is updated before a write is queued, so the queue only
// decides when the store learns it.
type writeQueue struct {
	store   Store
	limit   int
	group   int
	timeout time.Duration
	onError func(error)

	mu      sync.Mutex
	pending map[string]*write
	flight  map[string]*write // the group being committed
	fifo    []*write          // pending[...] in queue order, with dead ones to skip
	head    int               // first live-or-dead write of fifo not yet taken
	drops   []error           // dropped writes (and failed snapshots), to report from the writer
	lost    int               // drops not kept in drops (too many at once)
	closing bool
	wake    chan struct{} // capacity 1: there is work
	stopped chan struct{} // closed when the writer has returned

	snap       Snapshotter // store as a Snapshotter, or nil
	snapping   sync.WaitGroup
	snapBusy   atomic.Bool
	snapCtx    context.Context // cancelled by close
	snapCancel context.CancelFunc

	queued, coalesced, dropped, committed, failed, groups atomic.Uint64
}

// maxDropReports bounds the dropped writes waiting to be reported; beyond
// it they are reported as one count.
const maxDropReports = 1024

func newWriteQueue(store Store, limit, group int, timeout time.Duration, onError func(error)) *writeQueue {
	q := &writeQueue{
		store: store, limit: limit, group: group, timeout: timeout, onError: onError,
		pending: make(map[string]*write),
		flight:  make(map[string]*write),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	q.snap, _ = store.(Snapshotter)
	q.snapCtx, q.snapCancel = context.WithCancel(context.Background())
	go q.run()
	return q
}

// add queues w, or reports that the queue is closed. A pending write of the same domain takes w's content and
// keeps its place in the queue (it is committed no later than it would
// have been); otherwise, when the queue is full, the oldest pending write
// is dropped to make room. The caller holds the domain's stripe lock, so
// that the writes of one domain are queued in the order memory saw them.
func (q *writeQueue) add(w *write) bool {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return false
	}
	q.queued.Add(1)
	if old := q.pending[w.domain]; old != nil {
		// Coalesce: the older content is never committed.
		old.e = w.e
		old.finish(nil)
		old.done = w.done
		q.coalesced.Add(1)
		q.mu.Unlock()
		return true
	}
	if len(q.pending) >= q.limit {
		q.dropOldest()
	}
	q.pending[w.domain] = w
	q.fifo = append(q.fifo, w)
	q.mu.Unlock()
	q.signal()
	return true
}

// signal wakes the writer.
func (q *writeQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// barrier queues a marker, and returns a channel closed once every write
// queued before it has been committed (or has failed, or been dropped).
func (q *writeQueue) barrier() <-chan error {
	done := make(chan error, 1)
	w := &write{done: done}
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		w.finish(nil)
		return done
	}
	q.fifo = append(q.fifo, w)
	q.mu.Unlock()
	q.signal()
	return done
}

// dropOldest drops the oldest pending write. Every domain has at most one
// pending write (coalescing already dropped the older writes of a domain
// with a newer one), so the oldest is the one that has waited longest.
// The caller holds q.mu.
func (q *writeQueue) dropOldest() {
	for i := q.head; i < len(q.fifo); i++ {
		w := q.fifo[i]
		if w.dead || w.domain == "" {
			continue // skipped, or a barrier
		}
		q.drop(w, ErrQueueFull)
		return
	}
}

// drop marks w dead and reports it. The caller holds q.mu.
func (q *writeQueue) drop(w *write, why error) {
	w.dead = true
	delete(q.pending, w.domain)
	op := "put"
	if w.e == nil {
		op = "delete"
	}
	err := &StoreError{Op: op, Domain: w.domain, Err: why}
	q.dropped.Add(1)
	if w.done != nil {
		w.finish(err) // the waiter reports it
	} else if len(q.drops) < maxDropReports {
		q.drops = append(q.drops, err)
	} else {
		q.lost++
	}
}

// peek returns the content of the newest write of domain not yet
// committed, pending or being committed: an entry, or nil for a delete.
func (q *writeQueue) peek(domain string) (*Entry, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	w, ok := q.pending[domain]
	if !ok {
		w, ok = q.flight[domain]
	}
	if !ok {
		return nil, false
	}
	return w.e, true
}

// discard forgets every pending write (Cache.Purge); a waiting Delete
// counts as done.
func (q *writeQueue) discard() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range q.pending {
		w.dead = true
		w.finish(nil)
	}
	clear(q.pending)
}

// take removes and returns the next group of pending writes, oldest first,
// with the barriers among them.
func (q *writeQueue) take() []*write {
	q.mu.Lock()
	defer q.mu.Unlock()
	var g []*write
	for n := 0; q.head < len(q.fifo) && n < q.group; {
		w := q.fifo[q.head]
		q.fifo[q.head] = nil
		q.head++
		switch {
		case w.dead:
			continue
		case w.domain != "":
			delete(q.pending, w.domain)
			q.flight[w.domain] = w
			n++
		}
		g = append(g, w)
	}
	if q.head == len(q.fifo) {
		q.fifo, q.head = q.fifo[:0], 0
	} else if q.head > len(q.fifo)/2 && q.head > 1024 {
		n := copy(q.fifo, q.fifo[q.head:])
		clear(q.fifo[n:])
		q.fifo, q.head = q.fifo[:n], 0
	}
	return g
}

// reports takes the dropped writes waiting to be reported.
func (q *writeQueue) reports() ([]error, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d, lost := q.drops, q.lost
	q.drops, q.lost = nil, 0
	return d, lost
}

// run is the writer: it commits groups until the queue is closed and
// empty. Once closing, a group that the store refuses entirely ends the
// work: the writes still pending are dropped (and reported), so that
// Close does not wait for a dead store once per group.
func (q *writeQueue) run() {
	defer close(q.stopped)
	for {
		g := q.take()
		q.report()
		if len(g) > 0 {
			ok := q.commit(g)
			q.maybeSnapshot()
			q.mu.Lock()
			clear(q.flight)
			if q.closing && !ok {
				for _, w := range q.fifo[q.head:] {
					if !w.dead && w.domain != "" {
						q.drop(w, fmt.Errorf("%w while closing", ErrStoreDown))
					}
				}
			}
			q.mu.Unlock()
			continue
		}
		q.mu.Lock()
		done := q.closing && q.head == len(q.fifo)
		q.mu.Unlock()
		if done {
			q.report()
			return
		}
		<-q.wake
	}
}

// report calls onError with the writes dropped since the last call.
func (q *writeQueue) report() {
	drops, lost := q.reports()
	if q.onError == nil {
		return
	}
	for _, err := range drops {
		q.onError(err)
	}
	if lost > 0 {
		q.onError(&StoreError{Op: "put", Err: fmt.Errorf("%w: %d more writes dropped", ErrQueueFull, lost)})
	}
}

// commit writes one group to the store, reports what failed, and says
// whether anything succeeded.
func (q *writeQueue) commit(g []*write) bool {
	ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
	defer cancel()
	var puts []*Entry
	failed := make(map[string]error)
	writes := 0
	for _, w := range g {
		switch {
		case w.domain == "": // a barrier
		case w.e != nil:
			puts = append(puts, w.e)
			writes++
		default:
			writes++
			if err := q.store.Delete(ctx, w.domain); err != nil {
				failed[w.domain] = err
			}
		}
	}
	if len(puts) > 0 {
		var be *BatchError
		if err := PutMany(ctx, q.store, puts); errors.As(err, &be) {
			for d, err := range be.Failed {
				failed[d] = err
			}
		} else if err != nil {
			for _, e := range puts {
				failed[e.domain] = err
			}
		}
	}
	if writes > 0 {
		q.groups.Add(1)
	}
	for _, w := range g {
		err, bad := failed[w.domain]
		switch {
		case w.domain == "":
			w.finish(nil)
		case !bad:
			q.committed.Add(1)
			w.finish(nil)
		default:
			q.failed.Add(1)
			op := "put"
			if w.e == nil {
				op = "delete"
			}
			serr := &StoreError{Op: op, Domain: w.domain, Err: err}
			if w.done != nil {
				w.finish(serr) // the waiter reports it
			} else if q.onError != nil {
				q.onError(serr)
			}
		}
	}
	return writes == 0 || len(failed) < writes
}

// maybeSnapshot starts a snapshot of the store when it says one is due
// and none runs.
func (q *writeQueue) maybeSnapshot() {
	if q.snap == nil || q.snapCtx.Err() != nil || !q.snap.SnapshotDue() {
		return
	}
	q.mu.Lock()
	closing := q.closing
	q.mu.Unlock()
	if closing || !q.snapBusy.CompareAndSwap(false, true) {
		return
	}
	q.snapping.Go(func() {
		defer q.snapBusy.Store(false)
		err := q.snap.Snapshot(q.snapCtx)
		if err != nil && q.snapCtx.Err() == nil {
			// Reported by the writer, so that OnStoreError is called
			// one at a time.
			q.mu.Lock()
			q.drops = append(q.drops, &StoreError{Op: "snapshot", Err: err})
			q.mu.Unlock()
			q.signal()
		}
	})
}

// close makes the writer commit what is pending and stop, stops a
// snapshot under way, and waits for both.
func (q *writeQueue) close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.signal()
	<-q.stopped
	q.snapCancel()
	q.snapping.Wait()
}

// stats returns the counters.
func (q *writeQueue) stats() WriteStats {
	q.mu.Lock()
	n := len(q.pending)
	q.mu.Unlock()
	return WriteStats{
		Queued: q.queued.Load(), Coalesced: q.coalesced.Load(), Dropped: q.dropped.Load(),
		Committed: q.committed.Load(), Failed: q.failed.Load(), Groups: q.groups.Load(), Pending: n,
	}
}

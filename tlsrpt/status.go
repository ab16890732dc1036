package tlsrpt

import (
	"context"
	"errors"
	"sync"
	"time"
)

// TTLs of the record status cache. TXTResolver gives no DNS TTL, so the
// cache keeps an answer for a fixed time: a record (or its absence) for
// an hour, and retries a temporary failure after five minutes.
const (
	statusTTL      = time.Hour
	statusRetry    = 5 * time.Minute
	statusTimeout  = 30 * time.Second
	statusQueueLen = 1024
)

// statusCache knows which policy domains publish a TLS-RPT record, for
// the Recorder (Options.RecordStatus) and the deliveries. Unknown domains
// are looked up in the background, one at a time.
type statusCache struct {
	r     *Reporter
	queue chan string

	mu      sync.Mutex
	entries map[string]statusEntry
}

type statusEntry struct {
	rec       Record
	err       error // nil: rec is the domain's record
	known     bool  // err is an answer (no record), not a temporary failure
	expires   time.Time
	requested bool // a lookup is queued
}

func newStatusCache(r *Reporter) *statusCache {
	return &statusCache{r: r, queue: make(chan string, statusQueueLen), entries: make(map[string]statusEntry)}
}

func isNoRecord(err error) bool {
	var se *SyntaxError
	var de *DomainError
	return errors.Is(err, ErrNoRecord) || errors.Is(err, ErrMultipleRecords) || errors.As(err, &se) || errors.As(err, &de)
}

// get is Options.RecordStatus: what is known of domain, queueing a lookup
// if nothing fresh is. It never blocks.
func (c *statusCache) get(domain string) (publishes, known bool) {
	now := c.r.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[domain]
	if ok && now.Before(e.expires) && (e.err == nil || e.known) {
		return e.err == nil, true
	}
	if ok && e.requested || ok && now.Before(e.expires) {
		return false, false // a lookup is queued, or a failure is backing off
	}
	select {
	case c.queue <- domain:
		if len(c.entries) >= 2*max(c.r.rec.maxPolicies, 1) {
			c.prune(now)
		}
		e.requested = true
		c.entries[domain] = e
	default: // full: asked again at the next new entry
	}
	return false, false
}

// prune drops expired entries, or all if none is; c.mu is held.
func (c *statusCache) prune(now time.Time) {
	n := len(c.entries)
	for d, e := range c.entries {
		if !e.requested && !now.Before(e.expires) {
			delete(c.entries, d)
		}
	}
	if len(c.entries) == n {
		for d, e := range c.entries {
			if !e.requested {
				delete(c.entries, d)
			}
		}
	}
}

// run looks up the queued domains until ctx is done.
func (c *statusCache) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-c.queue:
			e := c.lookup(ctx, d)
			if ctx.Err() != nil {
				return
			}
			if e.known || e.err == nil {
				c.r.resolved(d, e.err == nil)
			}
		}
	}
}

// lookup looks domain up and caches the answer.
func (c *statusCache) lookup(ctx context.Context, domain string) statusEntry {
	lctx, cancel := context.WithTimeout(ctx, statusTimeout)
	rec, err := Lookup(lctx, c.r.opts.DNS, domain)
	cancel()
	e := statusEntry{rec: rec, err: err, known: err == nil || isNoRecord(err)}
	now := c.r.clock.Now()
	if e.known {
		e.expires = now.Add(statusTTL)
	} else {
		e.expires = now.Add(statusRetry)
	}
	if ctx.Err() == nil {
		c.mu.Lock()
		c.entries[domain] = e
		c.mu.Unlock()
	}
	return e
}

// record returns domain's record for a delivery: the cached one if fresh,
// else a new lookup.
func (c *statusCache) record(ctx context.Context, domain string) (Record, error) {
	now := c.r.clock.Now()
	c.mu.Lock()
	e, ok := c.entries[domain]
	c.mu.Unlock()
	if ok && now.Before(e.expires) && (e.err == nil || e.known) {
		return e.rec, e.err
	}
	e = c.lookup(ctx, domain)
	return e.rec, e.err
}

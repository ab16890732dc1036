package main

import (
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mtasts-go/mtasts/resolver"
)

// GraceForever is the grace that never runs out: a domain whose _mta-sts
// lookup keeps failing temporarily is answered TEMP for ever. It is the
// resolver's own (resolver.Options.TemporaryErrorGrace).
const GraceForever = resolver.GraceForever

// maxGraceDomains bounds the domains whose failures are remembered at once.
// Beyond it the least recently failed is forgotten (its grace starts over).
const maxGraceDomains = 10000

// graceTracker remembers, per domain, when its _mta-sts lookups began to
// fail temporarily, so that TEMP turns into NOTFOUND once they have failed
// for longer than the grace (an MTA retries once or twice meanwhile).
//
// The resolver applies the same grace, but only in the Decision of Check,
// which needs an MX host; a socketmap server asks for the policy alone
// (Lookup: Check with a made-up MX host would take the refetch-on-mismatch
// path), so it keeps its own account of the runs of failures, with the
// resolver's semantics.
type graceTracker struct {
	grace time.Duration // < 0: never TEMP; GraceForever: always TEMP
	clock func() time.Time

	mu       sync.Mutex
	failures *lru.Cache[string, failureWindow]
	n        atomic.Int32 // failures.Len(), read without the lock on the hot path
}

// failureWindow is a domain's run of failed lookups.
type failureWindow struct{ first, last time.Time }

func newGraceTracker(grace time.Duration, clock func() time.Time) *graceTracker {
	if clock == nil {
		clock = time.Now
	}
	c, _ := lru.New[string, failureWindow](maxGraceDomains) // only fails for a size <= 0
	return &graceTracker{grace: grace, clock: clock, failures: c}
}

// failed records a temporary failure for domain and reports whether the
// answer is still TEMP (the grace has not run out), and whether this
// failure begins a new run (worth one log line).
func (g *graceTracker) failed(domain string) (temp, first bool) {
	if g.grace < 0 {
		return false, true
	}
	now := g.clock()
	g.mu.Lock()
	defer g.mu.Unlock()
	w, ok := g.failures.Get(domain)
	// A run ends when the domain has not failed for a while: a failure
	// much later starts a new grace rather than inheriting an old one.
	if !ok || now.Sub(w.last) > g.quiet() {
		w = failureWindow{first: now}
		first = true
	}
	w.last = now
	g.failures.Add(domain, w)
	g.n.Store(int32(g.failures.Len()))
	return g.grace == GraceForever || now.Sub(w.first) < g.grace, first
}

// quiet is how long without a failure ends a run: longer than Postfix's
// longest retry interval (maximal_backoff_time, 4000 s by default), so
// that the retries of a deferred message stay in one run, and than twice
// the grace.
func (g *graceTracker) quiet() time.Duration {
	if g.grace == GraceForever {
		return GraceForever
	}
	return max(2*g.grace, minQuiet)
}

// minQuiet is the shortest quiet time that ends a run of failures.
const minQuiet = 2 * time.Hour

// succeeded ends domain's run of failures, if any.
func (g *graceTracker) succeeded(domain string) {
	if g.n.Load() == 0 {
		return // the common case: nothing is failing
	}
	g.mu.Lock()
	if g.failures.Remove(domain) {
		g.n.Store(int32(g.failures.Len()))
	}
	g.mu.Unlock()
}

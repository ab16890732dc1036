package resolver

import (
	"context"
	"hash/fnv"
	"time"
)

// refreshTick is how often the background loop looks for policies close to
// expiry.
const refreshTick = time.Minute

// refreshLoop refreshes policies before they expire (RFC 8461 sections 3.3
// and 10.2) until the resolver closes.
func (r *Resolver) refreshLoop() {
	t := time.NewTicker(refreshTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.refreshDue(r.ctx)
		case <-r.ctx.Done():
			return
		}
	}
}

// refreshDue starts a background revalidation of every cached policy that
// is due: within RefreshBefore of its expiry (less a per-domain jitter, so
// that a fleet does not refresh in step), and past half its max_age, which
// makes the revalidation refetch it. At most maxBackground run at once; the
// others wait for the next tick. It returns how many it started.
func (r *Resolver) refreshDue(ctx context.Context) int {
	n := 0
	for e := range r.cache.All() {
		if ctx.Err() != nil {
			break
		}
		p := e.Policy()
		now := r.clock()
		if p == nil || e.Expired(now) {
			continue
		}
		window := min(r.opts.RefreshBefore, p.MaxAgeDuration()/2)
		window -= jitter(e.Domain(), window/4)
		if e.Expires().Sub(now) > window {
			continue
		}
		if r.background(e.Domain()) {
			n++
		}
	}
	return n
}

// jitter returns a duration in [0, max) fixed for the domain.
func jitter(domain string, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(domain))
	return time.Duration(h.Sum64() % uint64(max))
}

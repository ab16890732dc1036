package resolver

import (
	"sync/atomic"
	"time"
)

// coarseTick is how often the coarse clock advances. Expiry has one-second
// resolution (max_age is in seconds), and time.Now costs more than the
// rest of a cache hit, so the hot path reads this clock instead.
const coarseTick = 500 * time.Millisecond

// coarseClock is the time, updated by a ticker, read with one atomic load.
type coarseClock struct {
	unixNano atomic.Int64
}

func (c *coarseClock) set(t time.Time) { c.unixNano.Store(t.UnixNano()) }

// run advances the clock until done is closed.
func (c *coarseClock) run(done <-chan struct{}) {
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			c.set(now)
		case <-done:
			return
		}
	}
}

// hotNow returns the time for decisions on the hot path: the coarse clock,
// unless Options.Clock is set, in which case that clock is the truth (tests
// move it by hand).
func (r *Resolver) hotNow() int64 {
	if r.opts.Clock != nil {
		return r.opts.Clock().UnixNano()
	}
	return r.coarse.unixNano.Load()
}

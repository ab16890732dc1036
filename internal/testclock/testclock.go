// Package testclock is a clock that a test moves by hand, for the packages
// whose time source is an interface of Now and Timer (tlsrpt.Clock).
package testclock

import (
	"sync"
	"testing"
	"time"
)

// Clock is a time source that stands still until Advance moves it; its
// timers fire when Advance passes them. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*timer]bool
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// New returns a Clock that reads now.
func New(now time.Time) *Clock {
	return &Clock{now: now, timers: make(map[*timer]bool)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Timer returns a channel that receives the time once d has passed on the
// clock, and a function that stops the timer. A d of zero or less fires at
// once.
func (c *Clock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t.ch, func() {}
	}
	c.timers[t] = true
	return t.ch, func() {
		c.mu.Lock()
		delete(c.timers, t)
		c.mu.Unlock()
	}
}

// Advance moves the clock by d and fires the timers due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			delete(c.timers, t)
		}
	}
}

// WaitTimers waits, for at most 10 s, until n timers are set: the code
// under test is asleep on them. It fails the test when time runs out.
func (c *Clock) WaitTimers(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		k := len(c.timers)
		c.mu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d timers after 10 s, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}

package tlsrpt

import "time"

// Clock is the time source of a [Reporter]: the time now, and timers.
// Tests give a clock they move by hand; the default is the system clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Timer returns a channel that receives once d has passed, and a
	// function that stops the timer (the channel then never receives).
	Timer(d time.Duration) (<-chan time.Time, func())
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

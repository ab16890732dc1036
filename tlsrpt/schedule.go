package tlsrpt

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// The daily cycle. A day's reports are planned once the day is over and
// its random delay has passed: one job per policy domain. A job attempts
// a delivery (record lookup, report, every destination), then either ends
// (accepted, permanent failure, no record) and forgets the counts, or
// waits Backoff, doubling, until MaxRetryTime after its first attempt.
// Jobs live in memory: after a restart, the days not yet forgotten are
// planned again (the same counts give the same report and report id),
// and their retries start over, bounded by the 48 hours the recorder
// keeps a day.

type jobKey struct {
	day    int64
	domain string
}

type job struct {
	next     time.Time // of the next attempt
	first    time.Time // of the first attempt; zero before it
	wait     time.Duration
	running  bool
	attempts int
}

func randomDuration(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return rand.N(n)
}

// run is the Reporter's scheduling loop.
func (r *Reporter) run() {
	defer r.wg.Done()
	sem := make(chan struct{}, r.opts.Workers)
	var jobs sync.WaitGroup
	defer jobs.Wait()
	for {
		now := r.clock.Now()
		wakeAt := r.plan(now)
		for _, k := range r.due(now, &wakeAt) {
			select {
			case sem <- struct{}{}:
			case <-r.ctx.Done():
				return
			}
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				defer func() { <-sem }()
				r.attempt(k)
				r.poke()
			}()
		}
		d := wakeAt.Sub(now)
		if wakeAt.IsZero() {
			d = 24 * time.Hour
		}
		ch, stop := r.clock.Timer(max(d, 0))
		select {
		case <-ch:
		case <-r.wake:
		case <-r.ctx.Done():
			stop()
			return
		}
		stop()
	}
}

// poke wakes the loop.
func (r *Reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// plan creates the jobs of the days that are over and past their delay,
// and returns when the next day's planning is due.
func (r *Reporter) plan(now time.Time) time.Time {
	today := dayOf(now)
	var wakeAt time.Time
	for _, day := range r.rec.Days() {
		d := dayOf(day)
		if d >= today {
			continue
		}
		r.mu.Lock()
		if r.planned[d] {
			r.mu.Unlock()
			continue
		}
		delay, ok := r.delay[d]
		if !ok {
			delay = r.opts.Random(max(r.opts.MaxDelay, 0))
			r.delay[d] = delay
		}
		due := dayTime(d + 1).Add(delay)
		if now.Before(due) {
			r.mu.Unlock()
			wakeAt = earliest(wakeAt, due)
			continue
		}
		r.planned[d] = true
		r.mu.Unlock()
		for _, dom := range r.rec.domains(d) {
			r.mu.Lock()
			if _, ok := r.jobs[jobKey{d, dom}]; !ok {
				r.jobs[jobKey{d, dom}] = &job{next: now}
			}
			r.mu.Unlock()
		}
	}
	// The next day's planning, and forgetting of the planned days gone.
	wakeAt = earliest(wakeAt, dayTime(today+1))
	r.mu.Lock()
	for d := range r.planned {
		if d <= today-keepDays {
			delete(r.planned, d)
			delete(r.delay, d)
		}
	}
	r.mu.Unlock()
	return wakeAt
}

// due marks the jobs due at now as running and returns them; wakeAt is
// moved to the next attempt of those that are not.
func (r *Reporter) due(now time.Time, wakeAt *time.Time) []jobKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []jobKey
	for k, j := range r.jobs {
		switch {
		case j.running:
		case !now.Before(j.next):
			j.running = true
			out = append(out, k)
		default:
			*wakeAt = earliest(*wakeAt, j.next)
		}
	}
	slices.SortFunc(out, func(a, b jobKey) int {
		if a.day != b.day {
			return int(a.day - b.day)
		}
		return compareStrings(a.domain, b.domain)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// attempt makes one delivery attempt of job k and schedules what follows.
func (r *Reporter) attempt(k jobKey) {
	now := r.clock.Now()
	r.mu.Lock()
	j := r.jobs[k]
	if j.first.IsZero() {
		j.first = now
	}
	j.attempts++
	r.mu.Unlock()

	final, err := r.deliver(k)
	if errors.Is(err, context.Canceled) && r.ctx.Err() != nil {
		return // closing: the counts stay for the next start
	}
	r.mu.Lock()
	maxRetry := r.sender.opts.MaxRetryTime
	if !final {
		if j.wait == 0 {
			j.wait = r.sender.opts.Backoff
		} else {
			j.wait *= 2
		}
		j.next = r.clock.Now().Add(j.wait)
		if j.next.After(j.first.Add(maxRetry)) {
			final = true
			r.stats.GaveUp++
		}
	}
	j.running = false
	if final {
		delete(r.jobs, k)
	}
	r.mu.Unlock()
	if final {
		r.forget(k.day, k.domain)
	}
	if f := r.opts.OnDelivery; f != nil {
		f(DeliveryEvent{Day: dayTime(k.day), Domain: k.domain, Err: err, Final: final})
	}
}

// deliver tries the report of k once; final says no attempt should
// follow (and the counts go).
func (r *Reporter) deliver(k jobKey) (final bool, err error) {
	ctx, cancel := context.WithTimeout(r.ctx, 2*r.sender.opts.Timeout)
	defer cancel()
	rec, err := r.status.record(ctx, k.domain)
	if err != nil {
		if isNoRecord(err) {
			r.count(&r.stats.NoRecord)
			return true, err
		}
		return false, err
	}
	rep, err := r.rec.Report(dayTime(k.day), k.domain, r.ropts)
	if err != nil || rep == nil {
		return true, err // nothing to send
	}
	body, err := r.gz.gzip(rep)
	if err != nil {
		return true, err
	}
	errs := make(map[string]error)
	accepted, left := r.sender.try(ctx, rep, body, rec.RUA, errs)
	switch {
	case accepted:
		r.count(&r.stats.Delivered)
		return true, nil
	case len(left) == 0:
		r.count(&r.stats.GaveUp)
		return true, &DeliveryError{Attempts: 1, Errs: errs, Permanent: true}
	}
	return false, &DeliveryError{Attempts: 1, Errs: errs}
}

func (r *Reporter) count(n *uint64) {
	r.mu.Lock()
	*n++
	r.mu.Unlock()
}

// domains returns the policy domains with counts on day d.
func (r *Recorder) domains(d int64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.policies {
		if k.day == d {
			out = append(out, k.domain)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// allDomains returns the policy domains with counts.
func (r *Recorder) allDomains() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.policies {
		out = append(out, k.domain)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

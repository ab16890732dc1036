package tlsrpt

import (
	"context"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
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
	return mrand.N(n)
}

// run is the Reporter's scheduling loop.
func (r *Reporter) run() {
	defer r.wg.Done()
	sem := make(chan struct{}, r.opts.Workers)
	var jobs sync.WaitGroup
	defer jobs.Wait()
	var nextFlush time.Time
	for {
		now := r.clock.Now()
		if r.opts.Fleet != nil && !now.Before(nextFlush) {
			ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
			r.flush(ctx) // what fails stays pending for the next round
			cancel()
			nextFlush = now.Add(r.opts.FlushInterval)
		}
		wakeAt := r.plan(now)
		if r.opts.Fleet != nil {
			wakeAt = earliest(wakeAt, nextFlush)
		}
		r.maybeCompact()
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
	days := r.rec.Days()
	if r.opts.Fleet != nil {
		// The shared counts hold the days that other nodes saw too.
		days = append(days, dayTime(today-2), dayTime(today-1))
	}
	for _, day := range days {
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
		domains := r.rec.domains(d)
		if r.opts.Fleet != nil {
			var err error
			if domains, err = r.fleetDomains(d); err != nil {
				r.mu.Lock()
				delete(r.planned, d) // again in a minute
				r.mu.Unlock()
				wakeAt = earliest(wakeAt, now.Add(time.Minute))
				continue
			}
		}
		for _, dom := range domains {
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
	if errors.Is(err, errNotLeader) {
		r.mu.Lock()
		delete(r.jobs, k)
		r.mu.Unlock()
		return // another node sends this report
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
		if r.opts.Fleet != nil {
			ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
			r.opts.Fleet.Done(ctx, dayTime(k.day), k.domain) // else the lease runs out
			cancel()
		}
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
	var rep *Report
	if r.opts.Fleet != nil {
		rep, err = r.fleetReport(ctx, k)
	} else {
		rep, err = r.rec.Report(dayTime(k.day), k.domain, r.ropts)
	}
	if errors.Is(err, errNotLeader) {
		return true, err
	}
	if err != nil || rep == nil {
		return err == nil, err // nothing to send, or a fleet failure to retry
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

// errNotLeader: another node holds the lease of a report.
var errNotLeader = errors.New("another node sends this report")

// fleetDomains flushes this node's counts and returns the domains with
// shared counts on day d.
func (r *Reporter) fleetDomains(d int64) ([]string, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	return r.opts.Fleet.Domains(ctx, dayTime(d))
}

// fleetReport takes the lease of k's report and builds it from the
// shared counts.
func (r *Reporter) fleetReport(ctx context.Context, k jobKey) (*Report, error) {
	day := dayTime(k.day)
	ok, err := r.opts.Fleet.Lease(ctx, day, k.domain, r.ropts.UniqueID, r.sender.opts.MaxRetryTime+time.Hour)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNotLeader
	}
	counts, err := r.opts.Fleet.Counts(ctx, day, k.domain)
	if err != nil {
		return nil, err
	}
	o := r.opts.Recorder
	o.Clock, o.RecordStatus = r.clock.Now, nil
	tmp := NewRecorder(o)
	tmp.addCounts(counts)
	return tmp.Report(day, k.domain, r.ropts)
}

func randomID() string { return rand.Text()[:16] }

// maybeCompact compacts the state directory when the journal has grown
// past compactSize or a day has passed since the last compaction.
func (r *Reporter) maybeCompact() {
	if r.j == nil {
		return
	}
	today := dayOf(r.clock.Now())
	r.j.mu.Lock()
	due := r.j.full() || r.compactedDay != today
	r.j.mu.Unlock()
	if due && r.j.compact(r.rec) == nil {
		r.compactedDay = today
	}
}

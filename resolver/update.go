package resolver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/policy"
)

// updateMode says why the resolver looks at a domain's record again.
type updateMode uint8

const (
	// modeDiscover: nothing usable is cached (RFC 8461 section 3).
	modeDiscover updateMode = iota
	// modeRevalidate: a cached policy is due for a TXT check; a new id,
	// or a policy past half its max_age, is refetched, the latter even
	// when the TXT lookup fails (section 10.2).
	modeRevalidate
	// modeMismatch: an MX host failed a cached enforce policy: check the
	// TXT record before refusing, and fetch if the id changed (RFC 8461 section 5.1).
	modeMismatch
	// modeForce: fetch whatever the id and any backoff (Resolver.Refresh).
	modeForce
)

// storeTimeout bounds a Store operation. It is separate from the fetch's
// deadline, so that a policy fetched late in its deadline is still stored.
const storeTimeout = 5 * time.Second

// outcome is the result of one update, shared by every caller that asked
// for the domain meanwhile. It is not modified once the update ends.
type outcome struct {
	entry    *cache.Entry     // the policy that applies now, or nil
	source   Source           // where entry came from
	warnings []policy.Warning // the parser's, for a policy fetched now
	id       string           // the record's id, if a record was found
	dnsErr   error            // a *DNSError: the TXT lookup failed temporarily, no policy cached
	fetchErr error            // a *FetchError, no policy cached
	stale    error            // why a cached policy was kept: a failed lookup or fetch
	closed   bool             // the resolver closed during the update
	events   []func()         // the hooks to call once the update is over
}

// emit queues a call of an Events hook. Hooks run after the shared work,
// in the goroutine of the caller that started it, so that a hook may call
// the Resolver without deadlocking on its own update.
func (o *outcome) emit(f func()) { o.events = append(o.events, f) }

// update runs one update of domain for every concurrent caller
// (singleflight). The shared work runs under the resolver's own context and
// deadline, so a caller that gives up does not cancel it for the others.
func (r *Resolver) update(ctx context.Context, domain string, mode updateMode) (*outcome, error) {
	key := domain
	if mode == modeForce {
		key = "force\x00" + domain // a forced fetch never settles for another update's result
	}
	led := false // written by the shared work, read after its result arrives
	ch := r.group.DoChan(key, func() (any, error) {
		led = true
		if !r.start() {
			return nil, ErrClosed
		}
		defer r.wg.Done()
		wctx, cancel := context.WithTimeout(r.ctx, r.opts.FetchTimeout)
		defer cancel()
		o := r.updateNow(wctx, domain, mode)
		if o.closed {
			return nil, ErrClosed
		}
		return o, nil
	})
	select {
	case res := <-ch:
		return r.settle(res.Val, res.Err, led)
	case <-ctx.Done():
		// The hooks of the shared work still run, once it is over.
		if r.start() {
			go func() {
				defer r.wg.Done()
				res := <-ch
				r.settle(res.Val, res.Err, led)
			}()
		}
		// The record was found and its policy is being fetched: for this
		// delivery that is a failed fetch (RFC 8461 section 3.3), not a
		// reason to defer; the fetch goes on, for the calls to come.
		if id, ok := r.pending.Load(domain); ok {
			return &outcome{id: id.(string), fetchErr: &FetchError{Kind: FetchTimeout, Host: "mta-sts." + domain,
				Err: fmt.Errorf("the caller's deadline ended during the fetch, which goes on: %w", ctx.Err())}}, nil
		}
		return nil, ctx.Err()
	}
}

// settle runs the hooks of an update (in the caller that led it) and
// returns its outcome as it stands now: a cached policy that expired while
// the update ran no longer applies (RFC 8461 section 3.3); the failure that
// kept it then stands alone.
func (r *Resolver) settle(v any, err error, led bool) (*outcome, error) {
	if err != nil {
		return nil, err
	}
	o := v.(*outcome)
	if led {
		for _, f := range o.events {
			f()
		}
	}
	// A policy fetched by this update applies to the delivery at hand even
	// with max_age 0.
	if o.entry == nil || o.source == SourceFetched || !o.entry.Expired(r.clock()) {
		return o, nil
	}
	lapsed := &outcome{id: o.id}
	var de *DNSError
	var fe *FetchError
	switch {
	case errors.As(o.stale, &fe):
		lapsed.fetchErr = fe
	case errors.As(o.stale, &de) && de.Temporary:
		lapsed.dnsErr = de
	}
	return lapsed, nil
}

// updateNow looks up the record and, when needed, fetches the policy (RFC
// 8461 sections 3, 5.1 and 10.2). A valid cached policy is never replaced
// by a failure, only by a newly fetched valid policy (section 3.3).
func (r *Resolver) updateNow(ctx context.Context, domain string, mode updateMode) *outcome {
	o := &outcome{}
	now := r.clock()
	old := r.cache.Peek(domain)
	if old != nil && (old.Policy() == nil || old.Expired(now)) {
		old = nil // an expired policy must not be applied
	}
	if old != nil && mode == modeDiscover {
		// The caller missed the cache just before another update put
		// this policy there: it is as fresh as can be.
		o.entry, o.source, o.id = old, cachedSource(old), old.ID()
		return o
	}
	fctx := ctx
	var txt *txtLookup
	if old == nil {
		if f, ok := r.failures.Peek(domain); !ok || !now.Before(f.at.Add(FetchBackoff)) {
			// A fetch is likely: look the policy host's addresses up at
			// the same time as the record, to save a round trip.
			var stop func()
			fctx, stop = r.fetch.prefetchAddrs(ctx, "mta-sts."+domain)
			defer stop()
		}
		if mode != modeForce && r.cache.Store() != nil {
			// A peer sharing the store may have fetched it. The record
			// is looked up while the store is read, so that a miss in
			// the store costs the slower of the two, not their sum. A
			// stored policy is served as if the record had not been
			// asked for: its lookup is cancelled and its answer unused
			// (the policy's id is checked at its next revalidation).
			txt = r.lookupTXT(ctx, domain)
			if e := r.load(o, domain, now); e != nil {
				txt.stop()
				o.entry, o.source, o.id = e, cachedSource(e), e.ID()
				return o
			}
		}
	}

	var txts []string
	var err error
	if txt != nil {
		txts, err = txt.wait()
	} else {
		txts, err = r.dns.TXT(ctx, "_mta-sts."+domain)
	}
	var rec policy.Record
	if err == nil {
		rec, err = policy.ParseTXT(txts)
	}
	if err != nil {
		if old != nil {
			// RFC 8461 sections 3.1 and 3.3: neither a failed lookup nor a
			// vanished record removes a cached policy; and section 10.2:
			// a policy due for refresh is fetched whatever the record
			// says, so that blocking the record cannot make it lapse.
			if mode == modeForce || mode == modeRevalidate && pastHalf(old, now) {
				return r.refetch(fctx, o, old, old.ID(), now, mode, err)
			}
			return r.keep(o, old, now, nil, err)
		}
		var de *DNSError
		if errors.As(err, &de) && de.Temporary {
			r.noteDNSFailure(domain, now)
			o.dnsErr = err
			return o
		}
		r.dnsWorks(domain)
		r.rememberNoPolicy(domain, now)
		return o // no usable record: no policy
	}

	r.dnsWorks(domain)
	o.id = rec.ID
	if old != nil {
		due := mode == modeForce || rec.ID != old.ID() || mode == modeRevalidate && pastHalf(old, now)
		if !due {
			if f, ok := old.LastFailure(); ok && f.ID != rec.ID {
				old = old.WithoutFailure() // the id that failed is gone
			}
			return r.keep(o, old, now, nil, nil)
		}
		return r.refetch(fctx, o, old, rec.ID, now, mode, nil)
	}
	if f, ok := r.failures.Get(domain); ok && mode != modeForce && f.id == rec.ID && now.Before(f.at.Add(FetchBackoff)) {
		// RFC 8461 section 3.3: after a failed fetch, wait five minutes
		// before trying again for the same id; a new id may be fetched.
		o.fetchErr = f.err
		return o
	}
	// Callers whose deadline ends during the fetch read this as a failed
	// fetch of rec.ID (see update). The entry stays until the update ends,
	// so that none of them can miss both it and the update's result.
	r.pending.Store(domain, rec.ID)
	defer r.pending.CompareAndDelete(domain, rec.ID)
	p, warnings, err := r.fetch.fetch(fctx, domain)
	if err != nil {
		if r.ctx.Err() != nil {
			o.closed = true // a closing resolver is no failure of the domain
			return o
		}
		r.failures.Add(domain, failure{id: rec.ID, at: now, err: err})
		if h := r.opts.Events.FetchFailed; h != nil {
			o.emit(func() { h(domain, rec.ID, err) })
		}
		o.fetchErr = err
		return o
	}
	r.install(o, cache.NewEntry(domain, rec.ID, p, now), warnings, nil)
	return o
}

// txtLookup is a lookup of a domain's _mta-sts TXT record running in its
// own goroutine, which wait or stop ends.
type txtLookup struct {
	cancel context.CancelFunc
	done   chan struct{}
	txts   []string // set before done is closed
	err    error
}

// lookupTXT starts looking up domain's _mta-sts TXT record.
func (r *Resolver) lookupTXT(ctx context.Context, domain string) *txtLookup {
	ctx, cancel := context.WithCancel(ctx)
	l := &txtLookup{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.txts, l.err = r.dns.TXT(ctx, "_mta-sts."+domain)
	}()
	return l
}

// wait returns the lookup's answer once it has one.
func (l *txtLookup) wait() ([]string, error) {
	<-l.done
	l.cancel()
	return l.txts, l.err
}

// stop cancels the lookup and waits for its goroutine to end.
func (l *txtLookup) stop() {
	l.cancel()
	<-l.done
}

// pastHalf reports whether e is past half its max_age at now.
func pastHalf(e *cache.Entry, now time.Time) bool {
	return now.Sub(e.FetchedAt()) >= e.Policy().MaxAgeDuration()/2
}

// refetch fetches the policy of a domain whose cached policy old is still
// valid, for the record id id. cause is why the TXT check did not give the
// id, if it did not.
func (r *Resolver) refetch(fctx context.Context, o *outcome, old *cache.Entry, id string, now time.Time, mode updateMode, cause error) *outcome {
	domain := old.Domain()
	if f, ok := old.LastFailure(); ok && mode != modeForce && f.ID == id && now.Before(f.At.Add(FetchBackoff)) {
		return r.keep(o, old, now, nil, cause) // backing off this id (RFC 8461 section 3.3)
	}
	p, warnings, err := r.fetch.fetch(fctx, domain)
	if err != nil {
		if r.ctx.Err() != nil {
			o.closed = true
			return o
		}
		// RFC 8461 section 6: a failed refresh of a none policy is not
		// reportable.
		if h := r.opts.Events.FetchFailed; h != nil && old.Policy().Mode != policy.ModeNone {
			o.emit(func() { h(domain, id, err) })
		}
		r.staleErrs.Add(domain, err)
		return r.keep(o, old, now, &cache.Failure{At: now, ID: id, Err: err.Error()}, err)
	}
	r.install(o, cache.NewEntry(domain, id, p, now), warnings, old)
	return o
}

// keep goes on with the cached policy old: it records the check, and the
// failure if there is one, and reports a stale policy.
func (r *Resolver) keep(o *outcome, old *cache.Entry, now time.Time, f *cache.Failure, cause error) *outcome {
	e := old.WithCheckedAt(now)
	if f != nil {
		e = e.WithFailure(*f)
	}
	// In memory only: a store shared by a fleet may hold a newer policy
	// that a peer fetched, which writing old back would roll back. The
	// check time and the backoff are cheap to learn again after a restart.
	r.cache.Touch(e)
	if h := r.opts.Events.ServedStale; h != nil && cause != nil && old.Policy().Mode != policy.ModeNone {
		domain, id := old.Domain(), old.ID()
		o.emit(func() { h(domain, id, cause) })
	}
	o.entry, o.source, o.stale = e, cachedSource(e), cause
	if o.id == "" {
		o.id = e.ID()
	}
	return o
}

// install caches a newly fetched valid policy, replacing whatever was
// cached (prev, if known), and reports the change.
func (r *Resolver) install(o *outcome, e *cache.Entry, warnings []policy.Warning, prev *cache.Entry) {
	domain := e.Domain()
	if prev == nil {
		prev = r.cache.Peek(domain)
	}
	r.put(o, e)
	r.failures.Remove(domain)
	r.noPolicy.Remove(domain)
	r.staleErrs.Remove(domain)
	o.entry, o.source, o.warnings, o.id = e, SourceFetched, warnings, e.ID()
	ev := r.opts.Events
	if ev.Fetched != nil {
		o.emit(func() { ev.Fetched(domain, e.ID(), e.Policy(), warnings) })
	}
	if prev == nil || prev.Policy() == nil {
		return
	}
	if ev.Changed != nil && prev.ID() != e.ID() {
		o.emit(func() { ev.Changed(domain, prev.ID(), e.ID()) })
	}
	if ev.Downgraded != nil && e.Policy().Mode < prev.Policy().Mode {
		o.emit(func() { ev.Downgraded(domain, prev.Policy(), e.Policy()) })
	}
}

// put caches e in memory and in the Store.
func (r *Resolver) put(o *outcome, e *cache.Entry) {
	ctx, cancel := context.WithTimeout(r.ctx, storeTimeout)
	defer cancel()
	r.storeFailed(o, r.cache.Put(ctx, e))
}

// load reads domain's unexpired entry through the Store, or returns nil.
func (r *Resolver) load(o *outcome, domain string, now time.Time) *cache.Entry {
	ctx, cancel := context.WithTimeout(r.ctx, storeTimeout)
	defer cancel()
	e, err := r.cache.Load(ctx, domain, now)
	if err == nil && e.Policy() != nil {
		return e
	}
	if !errors.Is(err, cache.ErrMiss) {
		r.storeFailed(o, err)
	}
	return nil
}

// storeFailed reports a failure of the Store, if err is one.
func (r *Resolver) storeFailed(o *outcome, err error) {
	if h := r.opts.Events.StoreError; h != nil && err != nil && r.ctx.Err() == nil {
		o.emit(func() { h(err) })
	}
}

// background starts a revalidation of domain unless one is running or too
// many are; it reports whether it started one.
func (r *Resolver) background(domain string) bool {
	if _, busy := r.refreshing.LoadOrStore(domain, struct{}{}); busy {
		return false
	}
	select {
	case r.bgSlots <- struct{}{}:
	default:
		r.refreshing.Delete(domain) // saturated: the next check will try again
		return false
	}
	if !r.start() {
		<-r.bgSlots
		r.refreshing.Delete(domain)
		return false
	}
	go func() {
		defer r.wg.Done()
		defer func() { <-r.bgSlots }()
		defer r.refreshing.Delete(domain)
		r.update(r.ctx, domain, modeRevalidate)
	}()
	return true
}

package resolver

import (
	"context"
	"errors"
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
	// or a policy past half its max_age, is refetched.
	modeRevalidate
	// modeMismatch: an MX host failed a cached enforce policy: check the
	// TXT record before refusing, and fetch if the id changed (DESIGN §4).
	modeMismatch
	// modeForce: fetch whatever the id (Resolver.Refresh).
	modeForce
)

// outcome is the result of one update, shared by every caller that asked
// for the domain meanwhile.
type outcome struct {
	entry    *cache.Entry     // the policy that applies now, or nil
	source   Source           // where entry came from
	warnings []policy.Warning // the parser's, for a policy fetched now
	id       string           // the record's id, if a record was found
	dnsErr   error            // a *DNSError: the TXT lookup failed temporarily
	fetchErr error            // a *FetchError
	stale    error            // why a cached policy was kept: a failed lookup or fetch
}

// update runs one update of domain for every concurrent caller
// (singleflight). The shared work runs under the resolver's own context and
// deadline, so a caller that gives up does not cancel it for the others.
func (r *Resolver) update(ctx context.Context, domain string, mode updateMode) (*outcome, error) {
	ch := r.group.DoChan(domain, func() (any, error) {
		if !r.start() {
			return nil, ErrClosed
		}
		defer r.wg.Done()
		wctx, cancel := context.WithTimeout(r.ctx, r.opts.FetchTimeout)
		defer cancel()
		return r.updateNow(wctx, domain, mode), nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*outcome), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// updateNow looks up the record and, when needed, fetches the policy (RFC
// 8461 sections 3 and 5.1). A valid cached policy is never replaced by a
// failure, only by a newly fetched valid policy (section 3.3).
func (r *Resolver) updateNow(ctx context.Context, domain string, mode updateMode) *outcome {
	now := r.clock()
	old := r.cache.Peek(domain)
	if old != nil && (old.Policy() == nil || old.Expired(now)) {
		old = nil // an expired policy must not be applied
	}
	if old == nil {
		// A peer sharing the store may have fetched it.
		e, err := r.cache.Load(ctx, domain, now)
		if err == nil && e.Policy() != nil {
			return &outcome{entry: e, source: cachedSource(e), id: e.ID()}
		}
		if !errors.Is(err, cache.ErrMiss) {
			r.storeError(err)
		}
	}

	// The policy host's addresses are looked up at the same time as the
	// record, to save a round trip.
	fctx, stop := r.fetch.prefetchAddrs(ctx, "mta-sts."+domain)
	defer stop()
	txts, err := r.dns.TXT(ctx, "_mta-sts."+domain)
	var rec policy.Record
	if err == nil {
		rec, err = policy.ParseTXT(txts)
	}
	if err != nil {
		var de *DNSError
		temporary := errors.As(err, &de) && de.Temporary
		if old != nil {
			// RFC 8461 sections 3.1 and 3.3: neither a failed lookup nor a
			// vanished record removes a cached policy.
			return r.keep(ctx, old, now, nil, err)
		}
		if temporary {
			return &outcome{dnsErr: err}
		}
		return &outcome{} // no usable record: no policy
	}

	o := &outcome{id: rec.ID}
	if old != nil {
		due := mode == modeForce || rec.ID != old.ID() ||
			mode == modeRevalidate && now.Sub(old.FetchedAt()) >= old.Policy().MaxAgeDuration()/2
		if !due {
			return r.keep(ctx, old, now, nil, nil)
		}
		if f, ok := old.LastFailure(); ok && mode != modeForce && f.ID == rec.ID && now.Before(f.At.Add(FetchBackoff)) {
			return &outcome{entry: old, source: SourceStale, id: old.ID()}
		}
	} else if f, ok := r.failures.Get(domain); ok && mode != modeForce && f.id == rec.ID && now.Before(f.at.Add(FetchBackoff)) {
		// RFC 8461 section 3.3: after a failed fetch, wait five minutes
		// before trying again for the same id; a new id may be fetched.
		o.fetchErr = f.err
		return o
	}

	p, warnings, err := r.fetch.fetch(fctx, domain)
	if err != nil {
		if h := r.opts.Events.FetchFailed; h != nil {
			h(domain, rec.ID, err)
		}
		if old != nil {
			return r.keep(ctx, old, now, &cache.Failure{At: now, ID: rec.ID, Err: err.Error()}, err)
		}
		r.failures.Add(domain, failure{id: rec.ID, at: now, err: err})
		o.fetchErr = err
		return o
	}
	e := cache.NewEntry(domain, rec.ID, p, now)
	r.install(ctx, e, warnings)
	o.entry, o.source, o.warnings = e, SourceFetched, warnings
	return o
}

// keep goes on with the cached policy old after a revalidation: it records
// the check (and the failure, if any) and reports a stale policy.
func (r *Resolver) keep(ctx context.Context, old *cache.Entry, now time.Time, f *cache.Failure, cause error) *outcome {
	e := old.WithCheckedAt(now)
	src := cachedSource(old)
	if f != nil {
		e = e.WithFailure(*f)
		src = SourceStale
	}
	r.storeError(r.cache.Put(ctx, e))
	if cause != nil {
		if h := r.opts.Events.ServedStale; h != nil {
			h(old.Domain(), old.ID(), cause)
		}
	}
	return &outcome{entry: e, source: src, id: e.ID(), stale: cause}
}

// install caches a newly fetched valid policy, replacing whatever was
// cached, and reports the change.
func (r *Resolver) install(ctx context.Context, e *cache.Entry, warnings []policy.Warning) {
	domain, prev := e.Domain(), r.cache.Peek(e.Domain())
	r.storeError(r.cache.Put(ctx, e))
	r.failures.Remove(domain)
	ev := r.opts.Events
	if ev.Fetched != nil {
		ev.Fetched(domain, e.ID(), e.Policy(), warnings)
	}
	if prev == nil || prev.Policy() == nil {
		return
	}
	if ev.Changed != nil && prev.ID() != e.ID() {
		ev.Changed(domain, prev.ID(), e.ID())
	}
	if ev.Downgraded != nil && e.Policy().Mode < prev.Policy().Mode {
		ev.Downgraded(domain, prev.Policy(), e.Policy())
	}
}

// background starts a revalidation of domain unless one is running.
func (r *Resolver) background(domain string) {
	if _, busy := r.refreshing.LoadOrStore(domain, struct{}{}); busy {
		return
	}
	if !r.start() {
		r.refreshing.Delete(domain)
		return
	}
	go func() {
		defer r.wg.Done()
		defer r.refreshing.Delete(domain)
		r.update(r.ctx, domain, modeRevalidate)
	}()
}

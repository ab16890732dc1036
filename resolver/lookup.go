package resolver

import (
	"context"
	"errors"
	"time"

	"github.com/mtasts-go/mtasts/policy"
)

// Source says where the policy of a Decision or an Entry came from.
type Source uint8

// The sources.
const (
	// SourceNone: no policy applies.
	SourceNone Source = iota
	// SourceCache: a cached, unexpired policy.
	SourceCache
	// SourceFetched: a policy fetched for this call.
	SourceFetched
)

func (s Source) String() string {
	switch s {
	case SourceCache:
		return "cache"
	case SourceFetched:
		return "fetched"
	}
	return "none"
}

// Entry is a domain's policy as the resolver knows it.
type Entry struct {
	Domain    string // the policy domain, normalised
	ID        string // the id of the _mta-sts record the policy was fetched for
	Policy    *policy.Policy
	Warnings  []policy.Warning // what the parser noted about the policy
	Source    Source
	FetchedAt time.Time
	Expires   time.Time // FetchedAt + max_age
}

// Lookup returns the policy in effect for domain: a cached unexpired policy,
// or else one discovered and fetched now (RFC 8461 section 3).
//
//   - A policy is in effect: the Entry and nil. Mode none is a policy.
//   - The domain publishes no usable _mta-sts record: nil, nil.
//   - The record is there but the policy could not be fetched or is
//     invalid: an Entry with Domain and ID but no Policy, and the
//     *FetchError. The sender goes on as if the domain had no policy
//     (RFC 8461 section 3.3).
//   - The TXT lookup failed temporarily: nil and the *DNSError.
//   - An invalid domain: a *DomainError; ctx done: its error.
func (r *Resolver) Lookup(ctx context.Context, domain string) (*Entry, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	d, err := Normalize(domain)
	if err != nil {
		return nil, err
	}
	if e := r.cached(d); e != nil {
		out := e.public(SourceCache)
		return &out, nil
	}
	o, err := r.discover(ctx, d)
	if err != nil {
		return nil, err
	}
	switch {
	case o.entry != nil:
		out := o.entry.public(SourceFetched)
		return &out, nil
	case o.fetchErr != nil:
		return &Entry{Domain: d, ID: o.id}, o.fetchErr
	case o.dnsErr != nil:
		return nil, o.dnsErr
	}
	return nil, nil
}

func (e *entry) public(src Source) Entry {
	return Entry{Domain: e.domain, ID: e.id, Policy: e.policy, Warnings: e.warnings,
		Source: src, FetchedAt: e.fetchedAt, Expires: e.expires}
}

// cached returns the unexpired cached entry of domain, or nil.
func (r *Resolver) cached(domain string) *entry {
	v, ok := r.entries.Load(domain)
	if !ok {
		return nil
	}
	e := v.(*entry)
	if r.hotNow() >= e.expiresAt {
		return nil
	}
	return e
}

// outcome is the result of one discovery, shared by every caller that
// asked for the domain meanwhile.
type outcome struct {
	id        string // the record's id, if a record was found
	recordErr error  // why there is no usable record (ErrNoRecord, a *policy.SyntaxError)
	dnsErr    error  // a *DNSError: the TXT lookup failed
	fetchErr  error  // a *FetchError
	entry     *entry // the fetched policy
}

// discover runs one discovery of domain for every concurrent caller
// (singleflight). The shared work runs under the resolver's own context and
// deadline, so a caller that gives up does not cancel it for the others.
func (r *Resolver) discover(ctx context.Context, domain string) (*outcome, error) {
	ch := r.group.DoChan(domain, func() (any, error) {
		if !r.start() {
			return nil, ErrClosed
		}
		defer r.wg.Done()
		wctx, cancel := context.WithTimeout(r.ctx, r.opts.FetchTimeout)
		defer cancel()
		return r.discoverNow(wctx, domain), nil
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

// discoverNow looks up the record and fetches the policy (RFC 8461 section
// 3). The policy host's addresses are looked up at the same time as the
// record, to save a round trip.
func (r *Resolver) discoverNow(ctx context.Context, domain string) *outcome {
	fctx, stop := r.fetch.prefetchAddrs(ctx, "mta-sts."+domain)
	defer stop()

	o := &outcome{}
	txts, err := r.dns.lookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		var de *DNSError
		if errors.As(err, &de) && !de.Temporary {
			o.recordErr = err // a broken DNS for the name: no policy
		} else {
			o.dnsErr = err
		}
		return o
	}
	rec, err := policy.ParseTXT(txts)
	if err != nil {
		o.recordErr = err
		return o
	}
	o.id = rec.ID
	// RFC 8461 section 3.3: after a failed fetch, wait five minutes before
	// trying again for the same id; a new id may be fetched at once.
	if f, ok := r.failures.Get(domain); ok && f.id == rec.ID && r.clock().Before(f.at.Add(FetchBackoff)) {
		o.fetchErr = f.err
		return o
	}
	p, warnings, err := r.fetch.fetch(fctx, domain)
	if err != nil {
		o.fetchErr = err
		r.failures.Add(domain, failure{id: rec.ID, at: r.clock(), err: err})
		if h := r.opts.Events.FetchFailed; h != nil {
			h(domain, rec.ID, err)
		}
		return o
	}
	r.failures.Remove(domain)
	now := r.clock()
	e := &entry{domain: domain, id: rec.ID, policy: p, warnings: warnings,
		fetchedAt: now, expires: now.Add(p.MaxAgeDuration())}
	e.expiresAt = e.expires.UnixNano()
	if p.MaxAge > 0 {
		r.entries.Store(domain, e)
	}
	o.entry = e
	if h := r.opts.Events.Fetched; h != nil {
		h(domain, rec.ID, p, warnings)
	}
	return o
}

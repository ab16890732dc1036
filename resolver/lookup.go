package resolver

import (
	"context"
	"time"

	"github.com/mtasts-go/mtasts/cache"
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
	// SourceStale: a cached, unexpired policy whose last refresh failed;
	// it applies until it expires (RFC 8461 section 3.3).
	SourceStale
)

// String returns cache, fetched, stale or none.
func (s Source) String() string {
	switch s {
	case SourceCache:
		return "cache"
	case SourceFetched:
		return "fetched"
	case SourceStale:
		return "stale"
	}
	return "none"
}

// Entry is a domain's policy as the resolver knows it.
type Entry struct {
	Domain    string           // the policy domain, normalised
	ID        string           // the id of the _mta-sts record the policy was fetched for
	Policy    *policy.Policy   // shared with the cache: do not modify
	Warnings  []policy.Warning // what the parser noted, for a policy fetched by this call
	Source    Source
	FetchedAt time.Time
	Expires   time.Time // FetchedAt + max_age
	CheckedAt time.Time // when the TXT record was last checked
	// LastFailure is the last failed refresh of a cached policy, if any.
	LastFailure *cache.Failure
}

func publicEntry(e *cache.Entry, warnings []policy.Warning, src Source) *Entry {
	out := &Entry{Domain: e.Domain(), ID: e.ID(), Policy: e.Policy(), Warnings: warnings, Source: src,
		FetchedAt: e.FetchedAt(), Expires: e.Expires(), CheckedAt: e.CheckedAt()}
	if f, ok := e.LastFailure(); ok {
		out.LastFailure = &f
	}
	return out
}

// cachedSource is SourceStale for an entry whose last refresh failed.
func cachedSource(e *cache.Entry) Source {
	if _, failed := e.LastFailure(); failed {
		return SourceStale
	}
	return SourceCache
}

// Lookup returns the policy in effect for domain: a cached unexpired policy,
// or else one discovered and fetched now (RFC 8461 section 3).
//
//   - A policy is in effect: the Entry and nil. Mode none is a policy.
//   - The domain publishes no usable _mta-sts record, or is an address
//     literal (RFC 8461 section 3.4): nil, nil.
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
	if r.cache == nil {
		return nil, ErrNotInitialised
	}
	d, err := Normalize(domain)
	if err != nil {
		if isAddressLiteral(domain) {
			return nil, nil // RFC 8461 section 3.4: no policy
		}
		return nil, err
	}
	if e := r.cachedEntry(d); e != nil {
		return publicEntry(e, nil, cachedSource(e)), nil
	}
	if r.knownNoPolicy(d) {
		return nil, nil
	}
	o, err := r.update(ctx, d, modeDiscover)
	if err != nil {
		return nil, err
	}
	switch {
	case o.entry != nil:
		return publicEntry(o.entry, o.warnings, o.source), nil
	case o.fetchErr != nil:
		return &Entry{Domain: d, ID: o.id}, o.fetchErr
	case o.dnsErr != nil:
		return nil, o.dnsErr
	}
	return nil, nil
}

// cachedEntry returns the unexpired cached policy of domain, or nil, and
// starts a background revalidation when one is due. It is the hot path.
func (r *Resolver) cachedEntry(domain string) *cache.Entry {
	ns := r.hotNow()
	e := r.cache.Get(domain, time.Unix(0, ns))
	if e == nil || e.Policy() == nil {
		return nil
	}
	if ns-e.CheckedAt().UnixNano() >= int64(r.opts.RevalidateInterval) {
		r.background(domain)
	}
	return e
}

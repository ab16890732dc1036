package resolver

import (
	"context"
	"iter"
)

// Cached returns the policies cached in memory, unexpired or not, in no
// particular order (see Entry.Expires).
func (r *Resolver) Cached() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		if r.cache == nil {
			return
		}
		for e := range r.cache.All() {
			if e.Policy() == nil {
				continue
			}
			if !yield(*publicEntry(e, nil, cachedSource(e))) {
				return
			}
		}
	}
}

// Purge forgets the cached policy of domain, in memory and in the Store.
// The next delivery discovers the domain's policy afresh.
func (r *Resolver) Purge(ctx context.Context, domain string) error {
	if r.cache == nil {
		return ErrNotInitialised
	}
	d, err := Normalize(domain)
	if err != nil {
		return err
	}
	r.failures.Remove(d)
	r.noPolicy.Remove(d)
	r.dnsFailing.Remove(d)
	r.staleErrs.Remove(d)
	return r.cache.Delete(ctx, d)
}

// PurgeAll forgets every cached policy, in memory and in the Store (for a
// shared store, for the whole fleet).
func (r *Resolver) PurgeAll(ctx context.Context) error {
	if r.cache == nil {
		return ErrNotInitialised
	}
	r.failures.Purge()
	r.noPolicy.Purge()
	r.dnsFailing.Purge()
	r.staleErrs.Purge()
	return r.cache.Purge(ctx)
}

// Refresh looks up domain's record and fetches its policy now, whatever the
// id, any backoff or the record's state, and returns the policy that applies
// afterwards. As always, a failure does not replace a valid cached policy:
// the Entry returned is then the cached one, with the error of the failed
// lookup or fetch (after a failed fetch its Source is stale). Without a
// cached policy, Refresh returns what Lookup would.
func (r *Resolver) Refresh(ctx context.Context, domain string) (*Entry, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if r.cache == nil {
		return nil, ErrNotInitialised
	}
	d, err := Normalize(domain)
	if err != nil {
		return nil, err
	}
	o, err := r.update(ctx, d, modeForce)
	if err != nil {
		return nil, err
	}
	switch {
	case o.entry != nil:
		return publicEntry(o.entry, o.warnings, o.source), o.stale
	case o.fetchErr != nil:
		return &Entry{Domain: d, ID: o.id}, o.fetchErr
	case o.dnsErr != nil:
		return nil, o.dnsErr
	}
	return nil, nil
}

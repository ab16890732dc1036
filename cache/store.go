package cache

import (
	"context"
	"errors"
	"sync"
)

// Store is persistent or shared storage for entries, behind a [Cache]:
// [DirStore] on local disk, cache/redisstore for a fleet of MTAs, or
// [MemoryStore] for tests. Implementations must be safe for concurrent use.
//
// A store keeps entries whole: it never returns a torn or partly updated
// entry, and it may skip (and report by its own means) entries that it
// cannot read back. It may drop expired entries at any time, and it may
// return them; [Cache] filters them out. The *Entry values passed to and
// returned from a store are immutable and may be shared.
type Store interface {
	// Get returns the entry of domain, or an error wrapping ErrMiss if
	// there is none.
	Get(ctx context.Context, domain string) (*Entry, error)
	// Put stores e under e.Domain(), replacing any entry of that domain:
	// the last writer wins, so a fleet sharing a store must only put what
	// it has just fetched (as the resolver does), never an old entry back.
	Put(ctx context.Context, e *Entry) error
	// Delete removes the entry of domain. Deleting a missing entry is not
	// an error.
	Delete(ctx context.Context, domain string) error
	// Range calls f for each stored entry, in no particular order, until f
	// returns false. An entry added or removed during Range may or may not
	// be seen. Range returns an error when the store could not be read
	// through; entries already passed to f stay valid. f may call the
	// store's other methods, so Range must not hold a lock of its own that
	// they take while it calls f.
	Range(ctx context.Context, f func(*Entry) bool) error
}

// Snapshotter is implemented by a [Store] that keeps a packed copy of its
// entries to make Range fast, such as [DirStore]. A Cache made by [Open]
// calls Snapshot from a goroutine of its own, after committing writes,
// when SnapshotDue reports that enough has changed, one at a time, and
// cancels it at Close. A failure is reported to Options.OnStoreError.
type Snapshotter interface {
	// SnapshotDue reports whether the copy should be rewritten.
	SnapshotDue() bool
	// Snapshot rewrites the copy.
	Snapshot(ctx context.Context) error
}

// Range, rather than an iter.Seq2[*Entry, error], because a store can fail
// half-way (a Redis SCAN, a directory read): with Range the failure is one
// final error that cannot be ignored by accident, the context comes first as
// on every other method, and an implementation cannot get the iterator
// protocol wrong. The Cache's own listing, which cannot fail, is an
// iter.Seq.

// Errors of the package.
var (
	// ErrMiss: the store or cache has no usable entry for the domain.
	ErrMiss = errors.New("cache: miss")
	// ErrInvalid: an entry without a domain, or with a domain longer than
	// 255 bytes.
	ErrInvalid = errors.New("cache: invalid entry")
)

// StoreError is returned by the methods of [Cache] when its [Store] fails.
// The in-memory part of the operation has been done: a resolver can keep
// serving from memory and report the store's trouble.
type StoreError struct {
	Op     string // "get", "put", "delete", "range" or "snapshot"
	Domain string // the domain concerned, "" for range
	Err    error  // the store's error
}

// Error describes the store's failure.
func (e *StoreError) Error() string {
	if e.Domain == "" {
		return "cache: store " + e.Op + ": " + e.Err.Error()
	}
	return "cache: store " + e.Op + " " + e.Domain + ": " + e.Err.Error()
}

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

// MemoryStore is a [Store] in a map, for tests and for programs that want a
// Cache's eviction to be lossless without a disk. Its zero value is an empty
// store ready to use. It must not be copied after first use.
type MemoryStore struct {
	mu sync.RWMutex
	m  map[string]*Entry
}

// Get implements [Store].
func (s *MemoryStore) Get(ctx context.Context, domain string) (*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	e, ok := s.m[domain]
	s.mu.RUnlock()
	if !ok {
		return nil, ErrMiss
	}
	return e, nil
}

// Put implements [Store].
func (s *MemoryStore) Put(ctx context.Context, e *Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !e.valid() {
		return ErrInvalid
	}
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]*Entry)
	}
	s.m[e.domain] = e
	s.mu.Unlock()
	return nil
}

// Delete implements [Store].
func (s *MemoryStore) Delete(ctx context.Context, domain string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.m, domain)
	s.mu.Unlock()
	return nil
}

// Range implements [Store]. It works on a snapshot, so f may call the
// store's other methods.
func (s *MemoryStore) Range(ctx context.Context, f func(*Entry) bool) error {
	s.mu.RLock()
	all := make([]*Entry, 0, len(s.m))
	for _, e := range s.m {
		all = append(all, e)
	}
	s.mu.RUnlock()
	for _, e := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !f(e) {
			return nil
		}
	}
	return nil
}

// Len returns the number of entries in the store.
func (s *MemoryStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/dane"
	"github.com/mtasts-go/mtasts/resolver"
)

// ErrOverrides is wrapped by every error of parseOverrides.
var ErrOverrides = errors.New("bad overrides file")

// OverridesError reports a bad line of an overrides file.
type OverridesError struct {
	Line int
	Err  error
}

func (e *OverridesError) Error() string { return fmt.Sprintf("overrides line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause, which wraps ErrOverrides.
func (e *OverridesError) Unwrap() error { return e.Err }

// maxOverrides bounds the lines of an overrides file.
const maxOverrides = 1_000_000

// parseOverrides reads an overrides file: one "domain action" per line,
// action "skip" (never apply MTA-STS to the domain) or "enforce" (apply its
// testing policy as enforce); blank lines and lines beginning with "#" are
// ignored. A domain given twice keeps its last action.
func parseOverrides(r io.Reader) (map[string]resolver.Override, error) {
	out := make(map[string]resolver.Override)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	n := 0
	for sc.Scan() {
		n++
		if n > maxOverrides {
			return nil, &OverridesError{n, fmt.Errorf("%w: more than %d lines", ErrOverrides, maxOverrides)}
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, &OverridesError{n, fmt.Errorf("%w: want \"domain skip\" or \"domain enforce\"", ErrOverrides)}
		}
		d, err := resolver.Normalize(f[0])
		if err != nil {
			return nil, &OverridesError{n, fmt.Errorf("%w: %v", ErrOverrides, err)}
		}
		switch strings.ToLower(f[1]) {
		case "skip":
			out[d] = resolver.Skip
		case "enforce":
			out[d] = resolver.ForceEnforce
		default:
			return nil, &OverridesError{n, fmt.Errorf("%w: action %q: want skip or enforce", ErrOverrides, f[1])}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &OverridesError{n + 1, fmt.Errorf("%w: %v", ErrOverrides, err)}
	}
	return out, nil
}

// overrideSet holds the overrides in force, replaced whole on reload.
type overrideSet struct {
	m atomic.Pointer[map[string]resolver.Override]
}

func (o *overrideSet) set(m map[string]resolver.Override) { o.m.Store(&m) }

// get returns domain's override, or 0.
func (o *overrideSet) get(domain string) resolver.Override {
	m := o.m.Load()
	if m == nil || len(*m) == 0 {
		return 0
	}
	return (*m)[domain]
}

// resolverSlot is the resolver in use, which a reload of the roots
// replaces. It serves as the Server's Lookuper and as the Admin.
type resolverSlot struct {
	cur atomic.Pointer[resolver.Resolver]
}

func (s *resolverSlot) Lookup(ctx context.Context, d string) (*resolver.Entry, error) {
	return s.cur.Load().Lookup(ctx, d)
}

func (s *resolverSlot) Cached() iter.Seq[resolver.Entry] { return s.cur.Load().Cached() }

func (s *resolverSlot) Purge(ctx context.Context, d string) error { return s.cur.Load().Purge(ctx, d) }

func (s *resolverSlot) PurgeAll(ctx context.Context) error { return s.cur.Load().PurgeAll(ctx) }

func (s *resolverSlot) Refresh(ctx context.Context, d string) (*resolver.Entry, error) {
	return s.cur.Load().Refresh(ctx, d)
}

// handoffStore is the Store of a resolver that replaces another: it gives
// the new resolver, once, the policies the old one has in memory (through
// Range, which resolver.New reads to warm its cache), and otherwise passes
// everything to the operator's store, if any. So a reload keeps the cache
// even without -cache-dir or -redis.
type handoffStore struct {
	inner cache.Store // may be nil

	mu   sync.Mutex
	seed []*cache.Entry
}

func newHandoffStore(inner cache.Store, old iter.Seq[resolver.Entry]) *handoffStore {
	h := &handoffStore{inner: inner}
	for e := range old {
		ce := cache.NewEntry(e.Domain, e.ID, e.Policy, e.FetchedAt).WithCheckedAt(e.CheckedAt)
		if e.LastFailure != nil {
			ce = ce.WithFailure(*e.LastFailure)
		}
		h.seed = append(h.seed, ce)
	}
	return h
}

func (h *handoffStore) Get(ctx context.Context, domain string) (*cache.Entry, error) {
	if h.inner == nil {
		return nil, cache.ErrMiss
	}
	return h.inner.Get(ctx, domain)
}

func (h *handoffStore) Put(ctx context.Context, e *cache.Entry) error {
	if h.inner == nil {
		return nil
	}
	return h.inner.Put(ctx, e)
}

func (h *handoffStore) Delete(ctx context.Context, domain string) error {
	if h.inner == nil {
		return nil
	}
	return h.inner.Delete(ctx, domain)
}

// PutMany passes a group of writes to the operator's store as one group
// when it takes groups (cache.BatchStore), so that a reload keeps the
// group commits.
func (h *handoffStore) PutMany(ctx context.Context, es []*cache.Entry) error {
	if h.inner == nil {
		return nil
	}
	return cache.PutMany(ctx, h.inner, es)
}

// SnapshotDue and Snapshot pass on to the operator's store when it keeps
// a snapshot (cache.Snapshotter), so that a reload keeps it up to date.
func (h *handoffStore) SnapshotDue() bool {
	s, ok := h.inner.(cache.Snapshotter)
	return ok && s.SnapshotDue()
}

func (h *handoffStore) Snapshot(ctx context.Context) error {
	if s, ok := h.inner.(cache.Snapshotter); ok {
		return s.Snapshot(ctx)
	}
	return nil
}

func (h *handoffStore) Range(ctx context.Context, f func(*cache.Entry) bool) error {
	h.mu.Lock()
	seed := h.seed
	h.seed = nil
	h.mu.Unlock()
	for _, e := range seed {
		if !f(e) {
			return nil
		}
	}
	if h.inner == nil {
		return nil
	}
	return h.inner.Range(ctx, f)
}

func (s *resolverSlot) DANE(ctx context.Context, domain, mx string) (resolver.DANEStatus, *dane.Set, error) {
	return s.cur.Load().DANE(ctx, domain, mx)
}

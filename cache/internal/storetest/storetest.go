// Package storetest is the conformance test that every cache.Store passes:
// MemoryStore and DirStore in package cache, the Redis store in
// cache/redisstore.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/policy"
)

// Now returns the time of the entries the tests write: in the future, so
// that a store expiring keys by the real clock (Redis) keeps them.
func Now() time.Time { return time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC) }

// Policy parses a policy or fails the test.
func Policy(t testing.TB, mode string, maxAge uint32, mx ...string) *policy.Policy {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: %s\r\nmax_age: %d\r\n", mode, maxAge)
	for _, m := range mx {
		fmt.Fprintf(&b, "mx: %s\r\n", m)
	}
	p, _, err := policy.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Enforce returns an entry of domain with an enforce policy of a day.
func Enforce(t testing.TB, domain, id string) *cache.Entry {
	t.Helper()
	return cache.NewEntry(domain, id, Policy(t, "enforce", 86400, "mx1.example.net", "*.mx.example.net"), Now())
}

// Equal reports how a and b differ, or "" if they are the same entry.
func Equal(a, b *cache.Entry) string {
	switch {
	case a == nil || b == nil:
		if a != b {
			return fmt.Sprintf("one is nil: %v, %v", a, b)
		}
	case a.Domain() != b.Domain():
		return fmt.Sprintf("domain %q != %q", a.Domain(), b.Domain())
	case a.ID() != b.ID():
		return fmt.Sprintf("id %q != %q", a.ID(), b.ID())
	case !a.Policy().Equal(b.Policy()):
		return fmt.Sprintf("policy %v != %v", a.Policy(), b.Policy())
	case !a.Expires().Equal(b.Expires()):
		return fmt.Sprintf("expires %v != %v", a.Expires(), b.Expires())
	case !a.CheckedAt().Equal(b.CheckedAt()):
		return fmt.Sprintf("checked %v != %v", a.CheckedAt(), b.CheckedAt())
	case !a.FetchedAt().Equal(b.FetchedAt()):
		return fmt.Sprintf("fetched %v != %v", a.FetchedAt(), b.FetchedAt())
	default:
		fa, oka := a.LastFailure()
		fb, okb := b.LastFailure()
		if oka != okb || !fa.At.Equal(fb.At) || fa.ID != fb.ID || fa.Err != fb.Err {
			return fmt.Sprintf("failure %v %+v != %v %+v", oka, fa, okb, fb)
		}
	}
	return ""
}

// Run tests the store that newStore returns: a new, empty store for each
// subtest.
func Run(t *testing.T, newStore func(t *testing.T) cache.Store) {
	ctx := context.Background()
	now := Now()

	t.Run("get_missing_is_miss", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, "absent.example"); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("Get = %v, want ErrMiss", err)
		}
	})

	t.Run("round_trip", func(t *testing.T) {
		s := newStore(t)
		entries := []*cache.Entry{
			Enforce(t, "enforce.example", "id1"),
			cache.NewEntry("testing.example", "20250101T000000",
				Policy(t, "testing", 604800, "mx.testing.example"), now.Add(-time.Hour)).WithCheckedAt(now),
			cache.NewEntry("none.example", "n0", Policy(t, "none", 86400), now),
			cache.NoPolicy("nopolicy.example", now, now.Add(time.Hour)),
			Enforce(t, "failed.example", "old").WithFailure(cache.Failure{At: now, ID: "new", Err: "fetch: 404 & <bad>"}),
			cache.NoPolicy("negfail.example", now, now.Add(5*time.Minute)).WithFailure(cache.Failure{At: now, ID: "x1", Err: "timeout"}),
		}
		for _, e := range entries {
			if err := s.Put(ctx, e); err != nil {
				t.Fatalf("Put %s: %v", e.Domain(), err)
			}
		}
		for _, want := range entries {
			got, err := s.Get(ctx, want.Domain())
			if err != nil {
				t.Fatalf("Get %s: %v", want.Domain(), err)
			}
			if d := Equal(got, want); d != "" {
				t.Errorf("%s: %s", want.Domain(), d)
			}
		}
	})

	t.Run("odd_keys", func(t *testing.T) {
		s := newStore(t)
		for _, d := range []string{
			"xn--bcher-kva.example", "a.b.c.d.e.f.example", "-dash_.example", "UPPER.Example",
			"slash/../etc", "..", ".hidden", "sp ace", "*?[x]\\", "é.example",
			strings.Repeat("l", 63) + "." + strings.Repeat("m", 63) + "." + strings.Repeat("n", 63) + "." + strings.Repeat("o", 61),
			strings.Repeat("z", 255),
		} {
			e := Enforce(t, d, "k")
			if err := s.Put(ctx, e); err != nil {
				t.Fatalf("Put %q: %v", d, err)
			}
			got, err := s.Get(ctx, d)
			if err != nil {
				t.Fatalf("Get %q: %v", d, err)
			}
			if diff := Equal(got, e); diff != "" {
				t.Errorf("%q: %s", d, diff)
			}
		}
		if _, err := s.Get(ctx, "upper.example"); !errors.Is(err, cache.ErrMiss) {
			t.Errorf("keys must be compared exactly: Get(upper.example) = %v", err)
		}
	})

	t.Run("put_replaces", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, Enforce(t, "r.example", "one")); err != nil {
			t.Fatal(err)
		}
		two := Enforce(t, "r.example", "two")
		if err := s.Put(ctx, two); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "r.example")
		if err != nil {
			t.Fatal(err)
		}
		if d := Equal(got, two); d != "" {
			t.Error(d)
		}
	})

	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, Enforce(t, "d.example", "1")); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "d.example"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "d.example"); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("Get after Delete = %v, want ErrMiss", err)
		}
		if err := s.Delete(ctx, "d.example"); err != nil {
			t.Fatalf("Delete of a missing entry = %v, want nil", err)
		}
	})

	t.Run("invalid_entry", func(t *testing.T) {
		s := newStore(t)
		for _, e := range []*cache.Entry{nil, Enforce(t, "", "1"), Enforce(t, strings.Repeat("x", 256), "1")} {
			if err := s.Put(ctx, e); !errors.Is(err, cache.ErrInvalid) {
				t.Errorf("Put(invalid) = %v, want ErrInvalid", err)
			}
		}
	})

	t.Run("range", func(t *testing.T) {
		s := newStore(t)
		const n = 600 // more than one SCAN batch
		want := make(map[string]bool, n)
		for i := range n {
			d := fmt.Sprintf("r%03d.example", i)
			want[d] = true
			if err := s.Put(ctx, Enforce(t, d, "1")); err != nil {
				t.Fatal(err)
			}
		}
		seen := make(map[string]bool, n)
		err := s.Range(ctx, func(e *cache.Entry) bool {
			if seen[e.Domain()] {
				t.Errorf("Range yielded %s twice", e.Domain())
			}
			seen[e.Domain()] = true
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		for d := range want {
			if !seen[d] {
				t.Errorf("Range missed %s", d)
			}
		}
		if len(seen) != n {
			t.Errorf("Range yielded %d entries, want %d", len(seen), n)
		}

		calls := 0
		if err := s.Range(ctx, func(*cache.Entry) bool { calls++; return false }); err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Errorf("Range called f %d times after it returned false, want 1", calls)
		}
	})

	t.Run("range_calls_store", func(t *testing.T) {
		// f may use the store, as Cache.Purge and Cache.Warm do.
		s := newStore(t)
		for i := range 10 {
			if err := s.Put(ctx, Enforce(t, fmt.Sprintf("c%d.example", i), "1")); err != nil {
				t.Fatal(err)
			}
		}
		err := s.Range(ctx, func(e *cache.Entry) bool {
			if _, err := s.Get(ctx, e.Domain()); err != nil {
				t.Errorf("Get in Range: %v", err)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("cancelled_context", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, Enforce(t, "x.example", "1")); err == nil {
			t.Error("Put with a cancelled context succeeded")
		}
		if _, err := s.Get(cctx, "x.example"); err == nil || errors.Is(err, cache.ErrMiss) {
			t.Errorf("Get with a cancelled context = %v, want the context's error", err)
		}
	})

	t.Run("put_many", func(t *testing.T) {
		s, ok := newStore(t).(cache.BatchStore)
		if !ok {
			t.Skip("not a cache.BatchStore")
		}
		var es []*cache.Entry
		for i := range 300 {
			es = append(es, Enforce(t, fmt.Sprintf("m%03d.example", i), "1"))
		}
		if err := s.PutMany(ctx, es); err != nil {
			t.Fatal(err)
		}
		// Replacing, with one entry that cannot be stored.
		es[7] = Enforce(t, "m007.example", "2")
		bad := Enforce(t, strings.Repeat("x", 256), "1")
		err := s.PutMany(ctx, append(es[:10:10], bad))
		var be *cache.BatchError
		if !errors.As(err, &be) || len(be.Failed) != 1 || !errors.Is(be.Failed[bad.Domain()], cache.ErrInvalid) {
			t.Fatalf("PutMany with an invalid entry = %v, want a BatchError naming it", err)
		}
		for i, want := range es {
			got, err := s.Get(ctx, want.Domain())
			if err != nil {
				t.Fatalf("Get %s: %v", want.Domain(), err)
			}
			if d := Equal(got, want); d != "" {
				t.Errorf("entry %d: %s", i, d)
			}
		}
		if err := s.PutMany(ctx, nil); err != nil {
			t.Errorf("PutMany(nil) = %v", err)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 25 {
					d := fmt.Sprintf("g%d-%d.example", g%2, i)
					if err := s.Put(ctx, Enforce(t, d, fmt.Sprint(g))); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.Get(ctx, d); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		n := 0
		if err := s.Range(ctx, func(*cache.Entry) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		if n != 50 {
			t.Errorf("%d entries after concurrent puts, want 50", n)
		}
	})
}

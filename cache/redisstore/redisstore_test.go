package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
	"github.com/mtasts-go/mtasts/cache/redisstore"
	"github.com/mtasts-go/mtasts/internal/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startRedis starts a private redis-server for the test.
func startRedis(t testing.TB) *server { return &server{redistest.Start(t)} }

// server adds the store helpers to a redistest.Server.
type server struct{ *redistest.Server }

func (s *server) client(t testing.TB) *redis.Client { return s.Client(t) }

var prefixes atomic.Int64

func (s *server) store(t *testing.T) *redisstore.Store {
	return &redisstore.Store{
		Client:  s.client(t),
		Prefix:  fmt.Sprintf("test%d:", prefixes.Add(1)),
		OnError: func(err error) { t.Errorf("OnError(%v) on healthy data", err) },
	}
}

func TestConformance(t *testing.T) {
	srv := startRedis(t)
	storetest.Run(t, func(t *testing.T) cache.Store { return srv.store(t) })
}

// TestExpiry: keys expire with their entries, in Redis.
func TestExpiry(t *testing.T) {
	srv := startRedis(t)
	s := srv.store(t)
	ctx := context.Background()
	real := time.Now()
	e := cache.NewEntry("a.example", "1", storetest.Policy(t, "enforce", 3600, "mx.example.net"), real)
	if err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	ttl, err := s.Client.TTL(ctx, s.Prefix+"a.example").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 3590*time.Second || ttl > 3600*time.Second {
		t.Errorf("TTL %v, want about an hour", ttl)
	}
	// An entry already expired (by Redis's clock) is gone at once.
	old := cache.NewEntry("b.example", "1", storetest.Policy(t, "enforce", 60, "mx.example.net"), real.Add(-time.Hour))
	if err := s.Put(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "b.example"); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Get of an expired entry = %v, want ErrMiss", err)
	}
	// Even one that expired in 1970, which EXAT refuses.
	if err := s.Put(ctx, storetest.Enforce(t, "c.example", "1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, cache.NoPolicy("c.example", time.Time{}, time.Time{})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "c.example"); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Get after an entry of 1970 = %v, want ErrMiss", err)
	}
}

// TestPrefix: stores under different prefixes do not see each other, and
// glob characters in a prefix are taken literally.
func TestPrefix(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	c := srv.client(t)
	stores := []*redisstore.Store{
		{Client: c}, // DefaultPrefix
		{Client: c, Prefix: "a*"},
		{Client: c, Prefix: "a?[x]\\:"},
		{Client: c, Prefix: "ab"},
	}
	for i, s := range stores {
		for k := range i + 1 {
			if err := s.Put(ctx, storetest.Enforce(t, fmt.Sprintf("d%d.example", k), strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, s := range stores {
		n := 0
		err := s.Range(ctx, func(e *cache.Entry) bool {
			n++
			if e.ID() != strconv.Itoa(i) {
				t.Errorf("store %d (prefix %q) sees %s of store %s", i, s.Prefix, e.Domain(), e.ID())
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Errorf("store %d (prefix %q): %d entries, want %d", i, s.Prefix, n, i+1)
		}
	}
	if keys, _ := c.Keys(ctx, redisstore.DefaultPrefix+"*").Result(); len(keys) != 1 {
		t.Errorf("default prefix: keys %v", keys)
	}
}

// TestCorruptValues: values that do not decode, or hold another domain's
// entry, are misses, skipped by Range, and reported.
func TestCorruptValues(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	var mu sync.Mutex
	var reports []error
	s := &redisstore.Store{Client: srv.client(t), Prefix: "c:", OnError: func(err error) {
		mu.Lock()
		reports = append(reports, err)
		mu.Unlock()
	}}
	if err := s.Put(ctx, storetest.Enforce(t, "good.example", "1")); err != nil {
		t.Fatal(err)
	}
	other, _ := storetest.Enforce(t, "other.example", "1").MarshalBinary()
	good, _ := storetest.Enforce(t, "torn.example", "1").MarshalBinary()
	for key, val := range map[string][]byte{
		"c:garbage.example": []byte("not an entry"),
		"c:torn.example":    good[:len(good)/2],
		"c:moved.example":   other,
	} {
		if err := s.Client.Set(ctx, key, val, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"garbage.example", "torn.example", "moved.example"} {
		if _, err := s.Get(ctx, d); !errors.Is(err, cache.ErrMiss) {
			t.Errorf("Get %s = %v, want ErrMiss", d, err)
		}
	}
	var seen []string
	if err := s.Range(ctx, func(e *cache.Entry) bool { seen = append(seen, e.Domain()); return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "good.example" {
		t.Errorf("Range saw %v", seen)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 6 {
		t.Errorf("%d reports, want 6: %v", len(reports), reports)
	}
	for _, err := range reports {
		if !errors.Is(err, cache.ErrCorrupt) {
			t.Errorf("report %v does not wrap ErrCorrupt", err)
		}
	}
}

// TestFleet: two MTAs, each with its own Cache and connection, share
// policies through one Redis.
func TestFleet(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	now := time.Now()
	a := cache.New(100, &redisstore.Store{Client: srv.client(t), Prefix: "fleet:"})
	b := cache.New(100, &redisstore.Store{Client: srv.client(t), Prefix: "fleet:"})
	p := storetest.Policy(t, "enforce", 86400, "mx.example.net")
	if err := a.Put(ctx, cache.NewEntry("shared.example", "v1", p, now)); err != nil {
		t.Fatal(err)
	}
	e, err := b.Load(ctx, "shared.example", now)
	if err != nil || e.ID() != "v1" {
		t.Fatalf("peer Load = %v, %v", e, err)
	}
	if b.Get("shared.example", now) == nil {
		t.Error("peer did not keep the shared entry in memory")
	}
	// A restart of both loses nothing.
	c := cache.New(100, &redisstore.Store{Client: srv.client(t), Prefix: "fleet:"})
	if n, err := c.Warm(ctx, now); err != nil || n != 1 {
		t.Errorf("Warm = %d, %v", n, err)
	}
	// A purge by one is a purge for all, once their memory is gone.
	if err := a.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.New(10, b.Store()).Load(ctx, "shared.example", now); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("after Purge: %v", err)
	}
}

// TestRedisKilled: when Redis dies mid-run, the store fails fast and the
// cache in front keeps answering from memory.
func TestRedisKilled(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	now := time.Now()
	s := &redisstore.Store{Client: srv.client(t), Prefix: "k:", Timeout: 500 * time.Millisecond}
	c := cache.New(100, s)
	p := storetest.Policy(t, "enforce", 86400, "mx.example.net")
	for i := range 10 {
		if err := c.Put(ctx, cache.NewEntry(fmt.Sprintf("d%d.example", i), "1", p, now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if c.Get(fmt.Sprintf("d%d.example", i), now) == nil {
			t.Fatal("memory lost an entry when Redis died")
		}
	}
	prompt := func(what string, f func() error) {
		t.Helper()
		start := time.Now()
		err := f()
		took := time.Since(start)
		var se *cache.StoreError
		if !errors.As(err, &se) {
			t.Errorf("%s: %v, want a *cache.StoreError", what, err)
		}
		if took > 2*time.Second {
			t.Errorf("%s took %v", what, took)
		}
		t.Logf("%s: %v after %v", what, err, took.Round(time.Millisecond))
	}
	prompt("Load", func() error { _, err := c.Load(ctx, "new.example", now); return err })
	prompt("Put", func() error { return c.Put(ctx, cache.NewEntry("new.example", "1", p, now)) })
	prompt("Warm", func() error { _, err := c.Warm(ctx, now); return err })
	if c.Get("new.example", now) == nil {
		t.Error("Put with Redis dead did not update memory")
	}
}

// TestRedisHung: a Redis that accepts connections but never answers (here,
// stopped with SIGSTOP) costs each call its timeout, not more.
func TestRedisHung(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	s := &redisstore.Store{Client: srv.client(t), Prefix: "h:", Timeout: 200 * time.Millisecond}
	if err := s.Put(ctx, storetest.Enforce(t, "a.example", "1")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	defer srv.Cont()
	for _, op := range []struct {
		name string
		f    func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "a.example"); return err }},
		{"Put", func() error { return s.Put(ctx, storetest.Enforce(t, "b.example", "1")) }},
		{"Delete", func() error { return s.Delete(ctx, "a.example") }},
		{"Range", func() error { return s.Range(ctx, func(*cache.Entry) bool { return true }) }},
	} {
		start := time.Now()
		err := op.f()
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want a deadline error", op.name, err)
		}
		if took > time.Second {
			t.Errorf("%s took %v with a 200 ms timeout", op.name, took)
		}
	}
	// The caller's own deadline counts too.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Get(cctx, "a.example"); err == nil || time.Since(start) > 150*time.Millisecond {
		t.Errorf("Get with a 50 ms context: %v after %v", err, time.Since(start))
	}
}

func BenchmarkPut(b *testing.B) {
	srv := startRedis(b)
	s := &redisstore.Store{Client: srv.client(b)}
	e := cache.NewEntry("example.com", "1", storetest.Policy(b, "enforce", 86400, "mx1.example.com", "mx2.example.com", "*.mx.example.com"), time.Now())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Put(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	srv := startRedis(b)
	s := &redisstore.Store{Client: srv.client(b)}
	e := cache.NewEntry("example.com", "1", storetest.Policy(b, "enforce", 86400, "mx1.example.com", "mx2.example.com", "*.mx.example.com"), time.Now())
	ctx := context.Background()
	if err := s.Put(ctx, e); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

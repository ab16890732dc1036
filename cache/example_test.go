package cache_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/policy"
)

func ExampleCache() {
	ctx := context.Background()
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 86400\n"))
	if err != nil {
		log.Fatal(err)
	}
	fetched := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	c := cache.New(10_000, nil) // memory only
	if err := c.Put(ctx, cache.NewEntry("example.com", "20250601", p, fetched)); err != nil {
		log.Fatal(err)
	}

	// The hot path: the caller passes the time, from its own clock.
	now := fetched.Add(time.Hour)
	if e := c.Get("example.com", now); e != nil {
		fmt.Println(e.Domain(), e.ID(), e.Policy().Mode, e.Policy().MX, "until", e.Expires())
	}
	// A day (max_age) and a second later the policy has expired and must
	// not be applied.
	if c.Get("example.com", fetched.Add(24*time.Hour+time.Second)) == nil {
		fmt.Println("expired")
	}
	// Output:
	// example.com 20250601 enforce [mx1.example.com] until 2025-06-02 12:00:00 +0000 UTC
	// expired
}

func ExampleDirStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mtasts-cache")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	p, _, err := policy.Parse([]byte("version: STSv1\nmode: testing\nmx: *.mail.example.org\nmax_age: 604800\n"))
	if err != nil {
		log.Fatal(err)
	}
	fetched := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	store := &cache.DirStore{
		Dir:     filepath.Join(dir, "mta-sts"),
		OnError: func(err error) { log.Printf("mta-sts cache: skipped: %v", err) },
	}
	c := cache.New(10_000, store)
	if err := c.Put(ctx, cache.NewEntry("example.org", "abc123", p, fetched)); err != nil {
		log.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(store.Dir, "*"))
	for _, n := range names {
		fmt.Println(filepath.Base(n))
	}

	// After a restart, memory is empty: Load reads through the directory.
	restarted := cache.New(10_000, store)
	now := fetched.Add(48 * time.Hour)
	fmt.Println(restarted.Get("example.org", now) == nil)
	e, err := restarted.Load(ctx, "example.org", now)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Domain(), e.ID(), e.Policy().Mode, "fetched", e.FetchedAt())
	// Output:
	// example.org.json
	// true
	// example.org abc123 testing fetched 2025-06-01 12:00:00 +0000 UTC
}

// A resolver records a failed fetch on the entry it keeps serving, and backs
// off per (domain, id).
func ExampleEntry_WithFailure() {
	p, _, _ := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 86400\n"))
	fetched := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	e := cache.NewEntry("example.net", "v1", p, fetched)

	// Twelve hours later the TXT record says v2, but the fetch fails: the
	// old policy stays in force until it expires (RFC 8461 section 3.3).
	now := fetched.Add(12 * time.Hour)
	e = e.WithCheckedAt(now).WithFailure(cache.Failure{At: now, ID: "v2", Err: "HTTP 503"})

	backoff := func(id string, at time.Time) bool {
		f, ok := e.LastFailure()
		return ok && f.ID == id && at.Sub(f.At) < 5*time.Minute
	}
	fmt.Println(e.ID(), e.Expires())
	fmt.Println(backoff("v2", now.Add(time.Minute)), backoff("v2", now.Add(6*time.Minute)), backoff("v3", now))
	// Output:
	// v1 2025-06-02 00:00:00 +0000 UTC
	// true false false
}

// Open takes store writes off the caller's path and loads the store in
// the background: what a resolver's start-up and delivery path need.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mtasts-cache")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 86400\n"))
	if err != nil {
		log.Fatal(err)
	}
	fetched := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return fetched.Add(time.Hour) }
	store := &cache.DirStore{Dir: dir}
	opts := cache.Options{
		Store: store,
		Warm:  true,
		Clock: clock,
		// Dropped or refused writes; memory keeps the entries.
		OnStoreError: func(err error) { log.Print(err) },
	}

	c := cache.Open(opts)
	// Put returns once memory holds the entry; the store gets it in the
	// next group, or at Close.
	if err := c.Put(ctx, cache.NewEntry("example.net", "v1", p, fetched)); err != nil {
		log.Fatal(err)
	}
	c.Close()
	fmt.Println(c.WriteStats().Committed, "committed")

	// The next start loads the store in the background; meanwhile Load
	// reads a missing domain from the store.
	warmed := make(chan cache.WarmProgress, 1)
	opts.OnWarmed = func(p cache.WarmProgress) { warmed <- p }
	c = cache.Open(opts)
	defer c.Close()
	e, err := c.Load(ctx, "example.net", clock())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Domain(), e.ID())
	pr := <-warmed
	fmt.Println("warm done:", pr.Done, pr.Seen, "seen")
	// Output:
	// 1 committed
	// example.net v1
	// warm done: true 1 seen
}

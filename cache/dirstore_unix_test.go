//go:build unix

package cache_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
)

// TestDirStoreSkipsFIFO: a FIFO named like an entry neither blocks nor
// counts as one.
func TestDirStoreSkipsFIFO(t *testing.T) {
	dir := t.TempDir()
	var reported atomic.Int32
	s := &cache.DirStore{Dir: dir, OnError: func(error) { reported.Add(1) }}
	ctx := context.Background()
	if err := s.Put(ctx, cache.NewEntry("example.com", "1", storetest.Policy(t, "enforce", 3600, "mx.example.net"), storetest.Now())); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.example.json"), 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan int, 1)
	go func() {
		n := 0
		s.Range(ctx, func(*cache.Entry) bool { n++; return true })
		done <- n
	}()
	select {
	case n := <-done:
		if n != 1 || reported.Load() != 1 {
			t.Fatalf("Range saw %d entries and reported %d errors, want 1 and 1", n, reported.Load())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Range blocked on a FIFO")
	}
	if _, err := s.Get(ctx, "fifo.example"); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get of the FIFO's name: %v", err)
	}
}

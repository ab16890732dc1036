package cache_test

import (
	"testing"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cache.Store { return new(cache.MemoryStore) })
}

func TestDirStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cache.Store {
		return &cache.DirStore{
			Dir:     t.TempDir() + "/sub/dir", // created by Put
			OnError: func(err error) { t.Errorf("OnError(%v) on a healthy directory", err) },
		}
	})
}

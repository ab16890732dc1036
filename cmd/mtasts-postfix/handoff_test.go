package main

import (
	"context"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
)

// TestHandoffKeepsStoreAbilities: after a reload, the resolver's store
// still commits groups through the operator's store and still keeps its
// snapshot.
func TestHandoffKeepsStoreAbilities(t *testing.T) {
	var _ cache.BatchStore = (*handoffStore)(nil)
	var _ cache.Snapshotter = (*handoffStore)(nil)
	ctx := context.Background()
	none := func(func(resolver.Entry) bool) {}
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 86400\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	es := []*cache.Entry{cache.NewEntry("a.example", "1", p, now), cache.NewEntry("b.example", "1", p, now)}

	ms := new(cache.MemoryStore) // no PutMany, no snapshot
	h := newHandoffStore(ms, none)
	if err := h.PutMany(ctx, es); err != nil || ms.Len() != 2 {
		t.Fatalf("PutMany through a plain store: %v, %d stored", err, ms.Len())
	}
	if h.SnapshotDue() || h.Snapshot(ctx) != nil {
		t.Fatal("a plain store has no snapshot")
	}

	ds := &cache.DirStore{Dir: t.TempDir()}
	h = newHandoffStore(ds, none)
	if err := h.PutMany(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if _, err := ds.Get(ctx, e.Domain()); err != nil {
			t.Fatalf("%s not stored: %v", e.Domain(), err)
		}
	}
	if h.SnapshotDue() != ds.SnapshotDue() || h.Snapshot(ctx) != nil {
		t.Fatal("the snapshot calls do not reach the DirStore")
	}
	if err := newHandoffStore(nil, none).PutMany(ctx, es); err != nil {
		t.Fatal(err)
	}
}

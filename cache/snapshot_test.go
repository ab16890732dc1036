//go:build linux

package cache_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
	"github.com/mtasts-go/mtasts/internal/crashtest"
)

// snapWorld is a DirStore of n entries beside the model of what it holds
// (domain → id), with snapshots from min entries and a clock an hour
// ahead, so that no file is too new for a snapshot record.
type snapWorld struct {
	t     *testing.T
	s     *cache.DirStore
	model map[string]string
	errs  *hook
}

func newSnapWorld(t *testing.T, n, min int) *snapWorld {
	t.Helper()
	w := &snapWorld{t: t, model: make(map[string]string), errs: new(hook)}
	w.s = &cache.DirStore{Dir: t.TempDir(), OnError: w.errs.report}
	w.s.SetSnapshotMin(min)
	w.s.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
	for i := range n {
		w.put(snapDomain(i), "1", false)
	}
	return w
}

// put writes an entry of domain with id, synced or not.
func (w *snapWorld) put(domain, id string, synced bool) {
	w.t.Helper()
	e := storetest.Enforce(w.t, domain, id)
	var err error
	if synced {
		err = w.s.Put(context.Background(), e)
	} else {
		err = w.s.FillUnsynced(e)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.model[domain] = id
}

// check ranges over the store and compares what it saw with the model.
func (w *snapWorld) check() {
	w.t.Helper()
	seen := make(map[string]string)
	err := w.s.Range(context.Background(), func(e *cache.Entry) bool {
		if _, dup := seen[e.Domain()]; dup {
			w.t.Errorf("Range gave %s twice", e.Domain())
		}
		seen[e.Domain()] = e.ID()
		return true
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(seen) != len(w.model) {
		w.t.Errorf("Range saw %d entries, the store has %d", len(seen), len(w.model))
	}
	for d, id := range w.model {
		if seen[d] != id {
			w.t.Errorf("Range gave %s id %q, the file has %q", d, seen[d], id)
		}
	}
}

// covered returns how many files the snapshot covers, or -1 if there is
// none.
func (w *snapWorld) covered() int {
	w.t.Helper()
	names, ok, err := cache.SnapshotNames(w.s.Dir)
	if err != nil {
		w.t.Fatal(err)
	}
	if !ok {
		return -1
	}
	return len(names)
}

func (w *snapWorld) file(domain string) string {
	return filepath.Join(w.s.Dir, domain+".json")
}

// TestSnapshotFollowsTheFiles: after a snapshot, every kind of change to
// the files is seen by the next Range, which then rewrites the snapshot
// once enough has changed.
func TestSnapshotFollowsTheFiles(t *testing.T) {
	w := newSnapWorld(t, 64, 16)
	if w.covered() != -1 {
		t.Fatal("a snapshot before any Range")
	}
	w.check()
	if got := w.covered(); got != 64 {
		t.Fatalf("the first Range wrote a snapshot of %d files, want 64", got)
	}
	w.check() // from the snapshot
	if got := w.errs.take(); len(got) > 0 {
		t.Fatalf("reported: %v", got)
	}

	ctx := context.Background()
	w.put(snapDomain(1), "2", true) // replaced by rename
	if err := w.s.Delete(ctx, snapDomain(2)); err != nil {
		t.Fatal(err)
	}
	delete(w.model, snapDomain(2))
	w.put("new.example", "1", true) // added
	// Written in place, same size: only the change time tells.
	enc, err := storetest.Enforce(t, snapDomain(3), "9").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.file(snapDomain(3)), enc, 0o600); err != nil {
		t.Fatal(err)
	}
	w.model[snapDomain(3)] = "9"
	// Replaced by a FIFO: skipped and reported, never blocking.
	if err := os.Remove(w.file(snapDomain(4))); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(w.file(snapDomain(4)), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(w.model, snapDomain(4))
	w.check()
	if got := w.errs.take(); len(got) != 1 || !errors.Is(got[0], cache.ErrCorrupt) {
		t.Fatalf("reported %v, want the FIFO as corrupt", got)
	}
	// Five changes of 64 entries is over a sixteenth: a Range leaves the
	// snapshot as it is, and asks for a rewrite, without the FIFO or
	// the deleted file.
	if got := w.covered(); got != 64 {
		t.Fatalf("Range rewrote the snapshot: %d files", got)
	}
	if !w.s.SnapshotDue() {
		t.Fatal("SnapshotDue is false after a sixteenth changed")
	}
	if err := w.s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if w.s.SnapshotDue() {
		t.Fatal("SnapshotDue is still true after Snapshot")
	}
	if got := w.covered(); got != len(w.model) {
		t.Fatalf("the snapshot covers %d files after the changes, want %d", got, len(w.model))
	}
	w.check()
}

// TestSnapshotRecordUsedOnlyWhileStampMatches: Range takes an entry from
// the snapshot, without opening its file, exactly as long as the file has
// the stamp of the record.
func TestSnapshotRecordUsedOnlyWhileStampMatches(t *testing.T) {
	w := newSnapWorld(t, 20, 16)
	w.check()
	// A doctored snapshot: one record, whose content is another version
	// of the domain than its file's (of the same size), with the file's
	// stamp.
	d := snapDomain(7)
	other, err := storetest.Enforce(t, d, "Z").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := cache.EncodeSnapshotRecord(w.file(d), d+".json", other)
	if err == nil {
		// The record says the file's size; the content must have it.
		_, _, err = cache.DecodeSnapshotRecord(rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	doctor := func() {
		if err := os.WriteFile(filepath.Join(w.s.Dir, ".snapshot"), append([]byte(cache.SnapshotMagic), rec...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doctor()
	w.model[d] = "Z"
	w.check()
	// Any change of the file's stamp (here its change time) makes Range
	// read the file.
	doctor()
	now := time.Now()
	if err := os.Chtimes(w.file(d), now, now); err != nil {
		t.Fatal(err)
	}
	w.model[d] = "1"
	w.check()
}

// TestSnapshotSkipsRacyFiles: a file changed less than a second before a
// snapshot is scanned gets no record, since a later change in the same
// clock tick could give its name the very same stamp.
func TestSnapshotSkipsRacyFiles(t *testing.T) {
	w := newSnapWorld(t, 40, 16)
	w.s.SetClock(time.Now)
	w.check()
	if got := w.covered(); got != 0 {
		t.Fatalf("a snapshot of files changed just now covers %d of them, want 0", got)
	}
	w.check()
}

// TestSnapshotSmallStore: below the least number of entries, no snapshot
// is written.
func TestSnapshotSmallStore(t *testing.T) {
	w := newSnapWorld(t, 10, 0) // the default minimum, 1 024
	w.check()
	if err := w.s.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.covered(); got != -1 {
		t.Fatalf("a store of 10 entries has a snapshot of %d", got)
	}
}

// TestSnapshotDamage: a snapshot that is torn, damaged or no snapshot at
// all is reported, and Range still gives every entry of the files once.
func TestSnapshotDamage(t *testing.T) {
	w := newSnapWorld(t, 32, 16)
	w.check()
	path := filepath.Join(w.s.Dir, ".snapshot")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	escape, err := cache.EncodeSnapshotRecord(w.file(snapDomain(0)), "../"+snapDomain(0)+".json", nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		make func() error
	}{
		{"torn", func() error { return os.WriteFile(path, good[:len(good)*2/3], 0o600) }},
		{"flipped byte", func() error { return os.WriteFile(path, flipped, 0o600) }},
		{"not a snapshot", func() error { return os.WriteFile(path, []byte("{}\n"), 0o600) }},
		{"name leaving the directory", func() error {
			return os.WriteFile(path, append([]byte(cache.SnapshotMagic), escape...), 0o600)
		}},
		{"symbolic link", func() error { return os.Symlink(w.file(snapDomain(0)), path) }},
		{"FIFO", func() error { return syscall.Mkfifo(path, 0o600) }},
		{"directory", func() error { return os.Mkdir(path, 0o700) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.t = t
			if err := os.RemoveAll(path); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				w.check()
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Range hung")
			}
			got := w.errs.take()
			if len(got) == 0 || !errors.Is(got[0], cache.ErrCorrupt) {
				t.Fatalf("reported %v, want ErrCorrupt", got)
			}
		})
	}
}

// TestSnapshotInBackground: a Cache made by Open rewrites a DirStore's
// snapshot once enough has been written, and Close stops it.
func TestSnapshotInBackground(t *testing.T) {
	w := newSnapWorld(t, 0, 16)
	c := cache.Open(cache.Options{Store: w.s, GroupSize: 8})
	defer c.Close()
	ctx := context.Background()
	for i := range 100 {
		if err := c.Put(ctx, storetest.Enforce(t, snapDomain(i), "1")); err != nil {
			t.Fatal(err)
		}
		w.model[snapDomain(i)] = "1"
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.covered() < 16 {
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot after 100 writes: %d", w.covered())
		}
		time.Sleep(10 * time.Millisecond) // polling a file, bounded by the deadline
	}
	c.Close()
	w.check()
}

// TestDirStoreWithSnapshots runs the Store conformance tests on a DirStore
// that writes a snapshot whenever it can.
func TestDirStoreWithSnapshots(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cache.Store {
		s := &cache.DirStore{Dir: t.TempDir()}
		s.SetSnapshotMin(1)
		s.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
		return s
	})
}

// FuzzSnapshot reads any bytes as a snapshot: Range never fails, hangs or
// panics, and gives the entries of the files, each once.
func FuzzSnapshot(f *testing.F) {
	dir := f.TempDir()
	s := &cache.DirStore{Dir: dir}
	s.SetSnapshotMin(1)
	s.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
	want := map[string]bool{}
	for i := range 3 {
		e := storetest.Enforce(f, snapDomain(i), "1")
		if err := s.FillUnsynced(e); err != nil {
			f.Fatal(err)
		}
		want[e.Domain()] = true
	}
	ctx := context.Background()
	if err := s.Range(ctx, func(*cache.Entry) bool { return true }); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, ".snapshot")
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte(cache.SnapshotMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s.SetSnapshotMin(1 << 30) // keep the fuzzed snapshot
		seen := map[string]int{}
		if err := s.Range(ctx, func(e *cache.Entry) bool { seen[e.Domain()]++; return true }); err != nil {
			t.Fatal(err)
		}
		for d := range want {
			if seen[d] != 1 {
				t.Fatalf("%s seen %d times: %v", d, seen[d], seen)
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("seen %v", seen)
		}
	})
}

// FuzzSnapshotRecord decodes any bytes as a record: never a panic, and a
// record that decodes names an entry file of the directory.
func FuzzSnapshotRecord(f *testing.F) {
	dir := f.TempDir()
	enc, err := storetest.Enforce(f, "a.example", "1").MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.example.json"), enc, 0o600); err != nil {
		f.Fatal(err)
	}
	rec, err := cache.EncodeSnapshotRecord(filepath.Join(dir, "a.example.json"), "a.example.json", enc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add(rec[:len(rec)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		name, _, err := cache.DecodeSnapshotRecord(b)
		if err != nil {
			if !errors.Is(err, cache.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if filepath.Base(name) != name || filepath.Ext(name) != ".json" || name[0] == '.' {
			t.Fatalf("decoded the name %q", name)
		}
	})
}

// TestSnapshotCrash kills, with SIGKILL, a process that writes entries and
// rewrites the snapshot, at random points: every time, Range gives
// exactly the entries that Get reads from the files, whole, and nothing is
// reported but what a kill may leave (temporary files, which Range
// ignores and Clean removes).
func TestSnapshotCrash(t *testing.T) {
	rng := crashtest.Begin(t, 10)
	dir := t.TempDir()
	errs := new(hook)
	s := &cache.DirStore{Dir: dir, OnError: errs.report}
	s.SetSnapshotMin(1) // as the child's, which would otherwise be too small for one
	ctx := context.Background()
	snapshots := 0
	for kill := range 10 {
		child := crashtest.Start(t, snapCrashDirEnv+"="+dir)
		lines := make(chan string, 1)
		go func() {
			// Read to the end (the kill closes the pipe), passing the
			// first lines on.
			sc := bufio.NewScanner(child.Out)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				default:
				}
			}
			close(lines)
		}()
		if line := <-lines; line != "ready" {
			child.Kill("start")
			t.Fatalf("writer: %q", line)
		}
		if kill == 0 {
			// The first kill waits for a snapshot, however loaded the
			// machine, so that the later ones have one to damage.
			select {
			case <-lines:
			case <-time.After(30 * time.Second):
				child.Kill("first snapshot")
				t.Fatal("no snapshot within 30 s")
			}
		}
		time.Sleep(time.Duration(50_000+rng.IntN(250_000)) * time.Microsecond)
		child.Signal()
		for range lines {
		}
		child.Reap(fmt.Sprintf("kill %d", kill))

		want := map[string]string{}
		for k := range snapCrashDomains {
			e, err := s.Get(ctx, snapDomain(k))
			if errors.Is(err, cache.ErrMiss) {
				continue
			}
			if err != nil {
				t.Fatalf("kill %d: %v", kill, err)
			}
			want[e.Domain()] = e.ID()
		}
		got := map[string]string{}
		if err := s.Range(ctx, func(e *cache.Entry) bool {
			if _, dup := got[e.Domain()]; dup {
				t.Errorf("kill %d: %s twice", kill, e.Domain())
			}
			got[e.Domain()] = e.ID()
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("kill %d: Range gave %d entries, the files hold %d", kill, len(got), len(want))
		}
		for d, id := range want {
			if got[d] != id {
				t.Fatalf("kill %d: Range gave %s id %q, the file has %q", kill, d, got[d], id)
			}
		}
		if r := errs.take(); len(r) > 0 {
			t.Fatalf("kill %d: reported %v", kill, r)
		}
		if _, ok, err := cache.SnapshotNames(dir); err != nil {
			t.Fatalf("kill %d: the snapshot in place is damaged: %v", kill, err)
		} else if ok {
			snapshots++
		}
	}
	if snapshots == 0 {
		t.Error("no kill left a snapshot: the test did not test it")
	}
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	if n, err := countTemps(dir); err != nil || n != 0 {
		t.Errorf("after Clean: %d temporary files, %v", n, err)
	}
}

// TestSnapshotDueOnlyWhenOwed: a store too small for a snapshot, or one
// that shrank below the minimum, is not asked to snapshot again and
// again, and the stale snapshot of the larger store is removed.
func TestSnapshotDueOnlyWhenOwed(t *testing.T) {
	small := newSnapWorld(t, 100, 0) // the default minimum, 1 024
	small.check()
	for i := range 24 {
		small.put(snapDomain(i), "2", true)
	}
	if small.s.SnapshotDue() {
		t.Fatal("a store of 100 entries is due after 24 writes")
	}

	w := newSnapWorld(t, 40, 16)
	w.check()
	if w.covered() != 40 {
		t.Fatal("no snapshot")
	}
	ctx := context.Background()
	for i := range 30 {
		if err := w.s.Delete(ctx, snapDomain(i)); err != nil {
			t.Fatal(err)
		}
		delete(w.model, snapDomain(i))
	}
	w.check()
	if w.covered() != -1 {
		t.Fatal("the snapshot of a store shrunk below the minimum is still there")
	}
	if w.s.SnapshotDue() {
		t.Fatal("a store shrunk below the minimum is due")
	}
}

// TestSnapshotWriteFailureBacksOff: a snapshot that cannot be written is
// returned by Snapshot and reported to OnStoreError by a Cache, and not
// tried again until as many writes again.
func TestSnapshotWriteFailureBacksOff(t *testing.T) {
	w := newSnapWorld(t, 40, 16)
	if err := os.Mkdir(filepath.Join(w.s.Dir, ".snapshot"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.s.Dir, ".snapshot", "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.s.Snapshot(ctx); err == nil {
		t.Fatal("Snapshot over a directory succeeded")
	}
	if w.s.SnapshotDue() {
		t.Fatal("due again at once after a failed Snapshot")
	}
	w.errs.take()

	var failed []error
	var mu sync.Mutex
	c := cache.Open(cache.Options{Store: w.s, GroupSize: 8, OnStoreError: func(err error) {
		mu.Lock()
		failed = append(failed, err)
		mu.Unlock()
	}})
	for i := range 40 {
		if err := c.Put(ctx, storetest.Enforce(t, snapDomain(i), "3")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(failed)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
	c.Close()
	var se *cache.StoreError
	if len(failed) == 0 || !errors.As(failed[0], &se) || se.Op != "snapshot" {
		t.Fatalf("OnStoreError got %v, want a failed snapshot", failed)
	}
	// 40 writes in groups of 8: a failure waits for 16 writes more and
	// then a sixteenth of the store, so at most two attempts, not one per
	// group.
	if len(failed) > 2 {
		t.Fatalf("%d attempts for 40 writes", len(failed))
	}
}

// TestSnapshotDamageIsRepaired: a Range that finds the snapshot damaged
// makes it due, and the next Snapshot replaces it.
func TestSnapshotDamageIsRepaired(t *testing.T) {
	w := newSnapWorld(t, 32, 16)
	w.check()
	path := filepath.Join(w.s.Dir, ".snapshot")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, good[:len(good)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	w.check()
	if got := w.errs.take(); len(got) != 1 {
		t.Fatalf("reported %v", got)
	}
	if !w.s.SnapshotDue() {
		t.Fatal("a damaged snapshot is not due")
	}
	if err := w.s.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.errs.take() // Snapshot read the damaged one too
	w.check()
	if got := w.errs.take(); len(got) != 0 || w.covered() != 32 {
		t.Fatalf("after Snapshot: reported %v, %d covered", got, w.covered())
	}
}

// TestSnapshotPanicInRange: when f panics, Range leaves no temporary
// snapshot and no goroutine behind (goleak checks the latter).
func TestSnapshotPanicInRange(t *testing.T) {
	w := newSnapWorld(t, 40, 16) // no snapshot yet: the Range writes one
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		w.s.Range(context.Background(), func(*cache.Entry) bool { panic("f") })
	}()
	if n, err := countTemps(w.s.Dir); err != nil || n != 0 {
		t.Fatalf("%d temporary files left, %v", n, err)
	}
	w.check()
}

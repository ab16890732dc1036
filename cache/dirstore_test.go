package cache_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
)

// hook collects the errors a DirStore reports.
type hook struct {
	mu   sync.Mutex
	errs []error
}

func (h *hook) report(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

func (h *hook) take() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.errs
	h.errs = nil
	return e
}

// TestDirStoreDamage writes damaged files next to good ones: each is a miss
// for Get, left out by Range, and reported once to OnError, and nothing
// fails.
func TestDirStoreDamage(t *testing.T) {
	ctx := context.Background()
	good := storetest.Enforce(t, "good.example", "1")
	enc, err := good.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	other, err := storetest.Enforce(t, "other.example", "1").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(enc)
	flipped[bytes.Index(flipped, []byte("mx1"))] ^= 0x20 // "Mx1": still JSON, wrong checksum

	cases := []struct {
		name    string
		content []byte
		want    error
	}{
		{"torn", enc[:len(enc)/2], cache.ErrCorrupt},
		{"torn_at_end", enc[:len(enc)-3], cache.ErrCorrupt},
		{"empty", nil, cache.ErrCorrupt},
		{"bit_flip", flipped, cache.ErrCorrupt},
		{"garbage", []byte("\x00\x01not json"), cache.ErrCorrupt},
		{"future_version", bytes.Replace(enc, []byte(`{"v":1,`), []byte(`{"v":2,`), 1), cache.ErrCorrupt},
		{"wrong_domain", other, cache.ErrCorrupt},
		{"oversized", append(bytes.Clone(enc), bytes.Repeat([]byte(" "), cache.MaxEncodedSize)...), cache.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h hook
			dir := t.TempDir()
			s := &cache.DirStore{Dir: dir, OnError: h.report}
			if err := s.Put(ctx, good); err != nil {
				t.Fatal(err)
			}
			const bad = "bad.example"
			path := filepath.Join(dir, bad+".json")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}

			if _, err := s.Get(ctx, bad); !errors.Is(err, cache.ErrMiss) {
				t.Errorf("Get = %v, want ErrMiss", err)
			}
			checkReport(t, h.take(), path, tc.want)

			var seen []string
			if err := s.Range(ctx, func(e *cache.Entry) bool { seen = append(seen, e.Domain()); return true }); err != nil {
				t.Fatalf("Range = %v", err)
			}
			if len(seen) != 1 || seen[0] != "good.example" {
				t.Errorf("Range saw %v, want [good.example]", seen)
			}
			checkReport(t, h.take(), path, tc.want)

			// A Cache in front treats the damaged file as a miss, and
			// putting a good entry repairs it.
			c := cache.New(10, s)
			if _, err := c.Load(ctx, bad, storetest.Now()); !errors.Is(err, cache.ErrMiss) {
				t.Errorf("Cache.Load = %v, want ErrMiss", err)
			}
			h.take()
			if err := c.Put(ctx, storetest.Enforce(t, bad, "2")); err != nil {
				t.Fatal(err)
			}
			if e, err := s.Get(ctx, bad); err != nil || e.ID() != "2" {
				t.Errorf("after Put: Get = %v, %v", e, err)
			}
		})
	}
}

func checkReport(t *testing.T, errs []error, path string, want error) {
	t.Helper()
	if len(errs) != 1 {
		t.Fatalf("OnError called %d times (%v), want once", len(errs), errs)
	}
	var pe *fs.PathError
	if !errors.As(errs[0], &pe) || pe.Path != path || !errors.Is(errs[0], want) {
		t.Errorf("OnError(%v), want a *fs.PathError for %s wrapping %v", errs[0], path, want)
	}
}

// TestDirStoreNoHook: damaged files without an OnError hook are skipped
// silently.
func TestDirStoreNoHook(t *testing.T) {
	dir := t.TempDir()
	s := &cache.DirStore{Dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "x.example.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "x.example"); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Get = %v", err)
	}
	if err := s.Range(context.Background(), func(*cache.Entry) bool { t.Error("Range yielded"); return true }); err != nil {
		t.Error(err)
	}
}

// TestDirStoreIgnoredFiles: temporary files, other files and directories in
// the directory are not entries.
func TestDirStoreIgnoredFiles(t *testing.T) {
	var h hook
	dir := t.TempDir()
	s := &cache.DirStore{Dir: dir, OnError: h.report}
	ctx := context.Background()
	if err := s.Put(ctx, storetest.Enforce(t, "a.example", "1")); err != nil {
		t.Fatal(err)
	}
	enc, _ := storetest.Enforce(t, "b.example", "1").MarshalBinary()
	for name, content := range map[string][]byte{
		".tmp-123":        enc, // a complete but unrenamed write
		".tmp-456":        enc[:10],
		"README":          []byte("hello"),
		".b.example.json": enc,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "d.example.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	var seen []string
	if err := s.Range(ctx, func(e *cache.Entry) bool { seen = append(seen, e.Domain()); return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "a.example" {
		t.Errorf("Range saw %v, want [a.example]", seen)
	}
	// The directory named like an entry is reported, once.
	if errs := h.take(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "d.example.json") {
		t.Errorf("reports: %v", errs)
	}
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".tmp-123", ".tmp-456"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Clean left %s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("Clean removed README: %v", err)
	}
}

// TestDirStoreMissingDir: a directory that does not exist yet is an empty
// store; Put creates it, private.
func TestDirStoreMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := &cache.DirStore{Dir: dir}
	ctx := context.Background()
	if err := s.Range(ctx, func(*cache.Entry) bool { return true }); err != nil {
		t.Errorf("Range of a missing directory = %v", err)
	}
	if err := s.Clean(); err != nil {
		t.Errorf("Clean of a missing directory = %v", err)
	}
	if err := s.Delete(ctx, "x.example"); err != nil {
		t.Errorf("Delete in a missing directory = %v", err)
	}
	if err := s.Put(ctx, storetest.Enforce(t, "x.example", "1")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	fi, err = os.Stat(filepath.Join(dir, "x.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestDirStoreUnwritable: Put into a directory that cannot be written fails
// and leaves nothing behind.
func TestDirStoreUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &cache.DirStore{Dir: filepath.Join(blocker, "sub")} // a path through a file
	if err := s.Put(context.Background(), storetest.Enforce(t, "x.example", "1")); err == nil {
		t.Error("Put under a file succeeded")
	}
	if _, err := s.Get(context.Background(), "x.example"); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Get = %v, want ErrMiss", err)
	}
}

// TestDirStoreFileNames: normal domains are readable file names, the rest
// hashed; none escapes the directory.
func TestDirStoreFileNames(t *testing.T) {
	dir := t.TempDir()
	s := &cache.DirStore{Dir: dir}
	ctx := context.Background()
	for _, d := range []string{"example.com", "xn--bcher-kva.example", "../escape", "UPPER.example", "con"} {
		if err := s.Put(ctx, storetest.Enforce(t, d, "1")); err != nil {
			t.Fatal(err)
		}
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	plain, hashed := 0, 0
	for _, n := range names {
		switch b := filepath.Base(n); {
		case b == "example.com.json" || b == "xn--bcher-kva.example.json" || b == "con.json":
			plain++
		case strings.HasPrefix(b, "~") && len(b) == 1+64+len(".json"):
			hashed++
		default:
			t.Errorf("unexpected file %s", b)
		}
	}
	if plain != 3 || hashed != 2 {
		t.Errorf("%d plain and %d hashed names, want 3 and 2", plain, hashed)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.json")); err == nil {
		t.Error("a key escaped the directory")
	}
}

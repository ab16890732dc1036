package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DirStore is the default persistent [Store]: one file per domain in a
// directory, like autocert's DirCache.
//
// A file is written whole or not at all: to a temporary file, which is
// synced, closed and renamed over the old one, and then the directory is
// synced, so that a crash or power loss leaves either the old entry or the
// new one. Files are encoded by [Entry.MarshalBinary] and checked by
// [ParseEntry]; a file that is torn, damaged, of an unknown version or
// larger than [MaxEncodedSize] is skipped — a miss for Get, left out by
// Range — and reported to OnError, never fatal.
//
// A domain made of lower-case letters, digits, '-', '_' and '.' (every
// normalised domain name of up to 250 bytes) is stored as "<domain>.json",
// so that an operator can find it; any other key as
// "~<sha256 of the key>.json". Temporary files
// begin with ".tmp-"; one left behind by a crash is ignored, and removed by
// the next [DirStore.Clean].
//
// [DirStore.PutMany] commits a group: it writes and syncs up to 16 files
// at once (a journaling file system commits concurrent syncs together)
// and syncs the directory once. [DirStore.Range] reads and decodes with
// four goroutines, streaming the directory in bounded memory.
//
// On Linux the directory also holds ".snapshot" ([DirStore.Snapshot]): a
// packed copy of the files, each record checked against its file's inode
// number, change time and size, so that a Range of a million entries
// opens one file instead of a million. Files stay the truth: a file
// changed since the snapshot is read as before, and deleting the snapshot
// loses nothing.
//
// The directory is flat: in an ext4 directory of a million files, Get and
// Range cost per file what they cost in one of a thousand
// (docs/BENCHMARKS.md), so it is not sharded, and an operator finds a
// domain's file by its name.
//
// The zero DirStore is not usable: Dir must be set. A DirStore must not be
// copied after first use. It may be used by
// several goroutines at once, but not shared by processes that write the same
// domains concurrently (the last rename wins, which is safe but wasteful).
type DirStore struct {
	// Dir is the directory of the files. Put creates it (mode 0700) if
	// needed.
	Dir string

	// OnError, if not nil, is called with each file that Get or Range
	// skipped because it could not be read back, as a *fs.PathError whose
	// Err wraps ErrCorrupt or ErrTooLarge (or the I/O error). It may be
	// called from several goroutines at once. Failures to write the
	// snapshot are reported here too.
	OnError func(error)

	minSnap int              // entries below which no snapshot is written; default snapshotMin (tests lower it)
	clock   func() time.Time // the time that decides which files are too new for a snapshot; default time.Now
	base    atomic.Int64     // entries found by the last whole scan
	dirty   atomic.Int64     // files written or deleted since, and changes the last scan left out of the snapshot
}

// fileSuffix ends the name of every entry file.
const fileSuffix = ".json"

// tempPrefix begins the name of every temporary file.
const tempPrefix = ".tmp-"

// fileName returns the name of domain's file.
func fileName(domain string) string {
	// 255 bytes is the longest name most file systems take.
	plain := domain != "" && len(domain)+len(fileSuffix) <= 255 && domain[0] != '.'
	for i := 0; plain && i < len(domain); i++ {
		c := domain[i]
		plain = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	if plain {
		return domain + fileSuffix
	}
	sum := sha256.Sum256([]byte(domain))
	return "~" + hex.EncodeToString(sum[:]) + fileSuffix
}

// Get implements [Store].
func (s *DirStore) Get(ctx context.Context, domain string) (*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := filepath.Join(s.Dir, fileName(domain))
	e, err := readFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrMiss
	case err != nil:
		s.report(err)
		return nil, ErrMiss
	case e.domain != domain:
		s.report(&fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: entry of %q", ErrCorrupt, e.domain)})
		return nil, ErrMiss
	}
	return e, nil
}

func (s *DirStore) report(err error) {
	if s.OnError != nil {
		s.OnError(err)
	}
}

// Put implements [Store]. It returns once the entry is durable.
func (s *DirStore) Put(ctx context.Context, e *Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.writeFile(e, true); err != nil {
		return err
	}
	return s.syncDir()
}

// putWorkers bounds the files PutMany writes and syncs at once. File
// system journals commit concurrent syncs together: on ext4, 16 at once
// make a group of 256 entries about eight times faster than one by one.
const putWorkers = 16

// PutMany implements [BatchStore]: it writes and syncs the files of the
// entries, up to 16 at once, renames each into place, and then syncs the
// directory once for all of them. It returns once they are all durable, or
// a *BatchError naming those that failed.
func (s *DirStore) PutMany(ctx context.Context, es []*Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	errs := make([]error, len(es))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(putWorkers, len(es)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(es) {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				errs[i] = s.writeFile(es[i], true)
			}
		})
	}
	wg.Wait()
	failed := make(map[string]error)
	for i, err := range errs {
		if err != nil {
			failed[es[i].Domain()] = err
		}
	}
	if len(failed) < len(es) {
		if err := s.syncDir(); err != nil {
			return err // none of the renames is known to be durable
		}
	}
	if len(failed) > 0 {
		return &BatchError{Failed: failed}
	}
	return nil
}

// writeFile writes e's file atomically: a temporary file, synced if sync
// is set, renamed over the old one. The rename is durable once the
// directory is synced.
func (s *DirStore) writeFile(e *Entry, sync bool) error {
	b, err := e.MarshalBinary()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.Dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.Dir, fileName(e.domain)))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	s.dirty.Add(1)
	return nil
}

// syncDir makes the renames and removals in the directory durable.
func (s *DirStore) syncDir() error { return syncDir(s.Dir) }

// syncDir makes the renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Delete implements [Store].
func (s *DirStore) Delete(ctx context.Context, domain string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(s.Dir, fileName(domain)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s.dirty.Add(1)
	return s.syncDir()
}

// Clean removes the temporary files that a crash may have left in the
// directory. Call it when no other process writes to the directory, such as
// at start.
func (s *DirStore) Clean() error {
	des, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), tempPrefix) {
			if err := os.Remove(filepath.Join(s.Dir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
// The directory is flat: in an ext4 directory of a million files, Get and
// Range cost per file what they cost in one of a thousand
// (docs/BENCHMARKS.md), so it is not sharded, and an operator finds a
// domain's file by its name.
//
// The zero DirStore is not usable: Dir must be set. A DirStore may be used by
// several goroutines at once, but not shared by processes that write the same
// domains concurrently (the last rename wins, which is safe but wasteful).
type DirStore struct {
	// Dir is the directory of the files. Put creates it (mode 0700) if
	// needed.
	Dir string

	// OnError, if not nil, is called with each file that Get or Range
	// skipped because it could not be read back, as a *fs.PathError whose
	// Err wraps ErrCorrupt or ErrTooLarge (or the I/O error). It may be
	// called from several goroutines at once.
	OnError func(error)
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
	e, err := s.read(name)
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

// read reads and decodes one file. Errors other than fs.ErrNotExist are
// *fs.PathError values.
//
// It works on the raw descriptor: four system calls (open, fstat, one
// read, close), where os.File would add an lstat, two reads and the netpoller's
// registration, which Range pays a million times at start. O_NONBLOCK
// keeps a FIFO from blocking the open, O_NOFOLLOW refuses a symbolic
// link, and fstat rejects anything but a regular file.
func (s *DirStore) read(name string) (*Entry, error) {
	fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	}
	switch {
	case err == syscall.ENOENT:
		return nil, fs.ErrNotExist
	case err == syscall.ELOOP:
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	case err != nil:
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	}
	if st.Size > MaxEncodedSize {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrTooLarge}
	}
	// One byte more than the size, so that a file that grew since fstat
	// is seen to have grown (up to the limit).
	b := make([]byte, 0, min(st.Size+1, MaxEncodedSize+1))
	for {
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
		if int64(len(b)) == st.Size {
			// Files are replaced by rename, never written in place:
			// this one is whole, and a read for the end would only
			// cost a system call.
			break
		}
		if len(b) == cap(b) {
			if len(b) > MaxEncodedSize {
				return nil, &fs.PathError{Op: "read", Path: name, Err: ErrTooLarge}
			}
			b = append(b, 0)[:len(b)] // grew since fstat: read on
		}
	}
	e, err := ParseEntry(b)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
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
	}
	return err
}

// syncDir makes the renames and removals in the directory durable.
func (s *DirStore) syncDir() error {
	d, err := os.Open(s.Dir)
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
	return s.syncDir()
}

// rangeWorkers bounds the files Range reads and decodes at once.
const rangeWorkers = 4

// Range implements [Store]. It streams the directory's names, reads and
// decodes the files with up to four goroutines, and calls f from the
// caller's goroutine, one entry at a time; a missing directory is an empty
// store. Memory stays bounded whatever the number of files.
func (s *DirStore) Range(ctx context.Context, f func(*Entry) bool) error {
	d, err := os.Open(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	rctx, stop := context.WithCancel(ctx)
	defer stop()

	// Names and entries travel in batches: a channel operation per file
	// would cost more than reading it.
	const batch = 64
	names := make(chan []string, rangeWorkers)
	entries := make(chan []*Entry, rangeWorkers)
	var listErr error
	go func() {
		defer close(names)
		for {
			des, err := d.ReadDir(1024)
			for len(des) > 0 {
				chunk := des[:min(batch, len(des))]
				des = des[len(chunk):]
				ns := make([]string, 0, len(chunk))
				for _, de := range chunk {
					n := de.Name()
					if strings.HasSuffix(n, fileSuffix) && !strings.HasPrefix(n, ".") {
						ns = append(ns, n)
					}
				}
				select {
				case names <- ns:
				case <-rctx.Done():
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					listErr = err
				}
				return
			}
		}
	}()
	dirfd := int(d.Fd())
	var wg sync.WaitGroup
	for range rangeWorkers {
		wg.Go(func() {
			buf := make([]byte, MaxEncodedSize+1)
			for ns := range names {
				es := make([]*Entry, 0, len(ns))
				for _, name := range ns {
					if e := s.rangeRead(dirfd, name, buf); e != nil {
						es = append(es, e)
					}
				}
				select {
				case entries <- es:
				case <-rctx.Done():
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(entries)
	}()
	stopped := false
	for es := range entries { // drained to the end: no goroutine outlives Range
		for _, e := range es {
			if !stopped && !f(e) {
				stopped = true
				stop()
			}
		}
	}
	if stopped {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return listErr
}

// rangeRead reads the file name for Range: its entry, or nil (reported)
// when it is no entry of its own name. dirfd is the directory, buf a
// buffer of MaxEncodedSize+1 bytes that the worker reuses.
func (s *DirStore) rangeRead(dirfd int, name string, buf []byte) *Entry {
	path := filepath.Join(s.Dir, name)
	e, err := readAt(dirfd, name, path, buf)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // deleted since the directory was read
	case err != nil:
		s.report(err)
		return nil
	case fileName(e.domain) != name:
		s.report(&fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: entry of %q", ErrCorrupt, e.domain)})
		return nil
	}
	return e
}

// readAt is read for Range, which reads a million files at start: three
// system calls per file (openat, one read, close). The read asks for one
// byte more than an entry may have; a regular file gives less only at its
// end, so that read is the whole file. What is not a regular file cannot
// pass for an entry: O_NOFOLLOW refuses a symbolic link, a directory fails
// to read, a FIFO opened with O_NONBLOCK reads empty, a device fills the
// buffer; each is reported as the file of Get would be.
func readAt(dirfd int, name, path string, buf []byte) (*Entry, error) {
	const flags = syscall.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	fd, err := syscall.Openat(dirfd, name, flags, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Openat(dirfd, name, flags, 0)
	}
	switch {
	case err == syscall.ENOENT:
		return nil, fs.ErrNotExist
	case err == syscall.ELOOP:
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	case err != nil:
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, buf)
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, buf)
	}
	switch {
	case err == syscall.EAGAIN || err == syscall.EISDIR:
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	case err != nil:
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	case n > MaxEncodedSize:
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	// ParseEntry keeps nothing of buf: the worker reuses it.
	e, err := ParseEntry(buf[:n])
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return e, nil
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

//go:build !unix

package cache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// snapshots says whether DirStore keeps a snapshot on this system: only on
// Linux.
const snapshots = false

// readFile reads and decodes one file. Errors other than fs.ErrNotExist are
// *fs.PathError values. Anything but a regular file is reported as
// corrupt.
func readFile(path string) (*Entry, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi2, err := f.Stat(); err != nil || !os.SameFile(fi, fi2) {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: replaced while opened", ErrCorrupt)}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxEncodedSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if len(b) > MaxEncodedSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	e, err := ParseEntry(b)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return e, nil
}

// readAt is readFile for Range. The encoding's length and the stamp are
// of use only with snapshots: it returns 0 and leaves the stamp alone.
func readAt(_ int, _, path string, _ []byte, _ *fileStamp) (*Entry, int, error) {
	e, err := readFile(path)
	return e, 0, err
}

func statAt(int, string) (fileStamp, error) { return fileStamp{}, errors.ErrUnsupported }

// openRegular opens the regular file at path for reading.
func openRegular(_ int, _, path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	}
	return os.Open(path)
}

func fileCtime(*os.File) time.Time { return time.Time{} }

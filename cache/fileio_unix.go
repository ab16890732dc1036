//go:build unix

package cache

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// readFile reads and decodes one file. Errors other than fs.ErrNotExist are
// *fs.PathError values.
//
// It works on the raw descriptor: four system calls (open, fstat, one
// read, close), where os.File would add an lstat, two reads and the netpoller's
// registration. O_NONBLOCK keeps a FIFO from blocking the open, O_NOFOLLOW
// refuses a symbolic link, and fstat rejects anything but a regular file.
func readFile(name string) (*Entry, error) {
	const flags = syscall.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	fd, err := openFile(func() (int, error) { return syscall.Open(name, flags, 0) }, name)
	if err != nil {
		return nil, err
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

// readAt is readFile for Range, which reads a million files at start: three
// system calls per file (openat, one read, close), and a fourth (fstat)
// when stamp is not nil, to fill it for the snapshot. The read asks for one
// byte more than an entry may have; a regular file gives less only at its
// end, so that read is the whole file. What is not a regular file cannot
// pass for an entry: O_NOFOLLOW refuses a symbolic link, a directory fails
// to read, a FIFO opened with O_NONBLOCK reads empty, a device fills the
// buffer; each is reported as the file of Get would be. It returns the
// entry and the number of bytes of buf that hold its encoding.
func readAt(dirfd int, name, path string, buf []byte, stamp *fileStamp) (*Entry, int, error) {
	fd, err := openFile(func() (int, error) { return openAt(dirfd, name, path) }, path)
	if err != nil {
		return nil, 0, err
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, buf)
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, buf)
	}
	switch {
	case err == syscall.EAGAIN || err == syscall.EISDIR:
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	case err != nil:
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: err}
	case n > MaxEncodedSize:
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	// ParseEntry keeps nothing of buf: the worker reuses it.
	e, err := ParseEntry(buf[:n])
	if err != nil {
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if stamp != nil {
		*stamp = fdStamp(fd)
	}
	return e, n, nil
}

// openRegular opens the regular file name of the directory dirfd (whose
// path is path) for reading, refusing a symbolic link and, without
// blocking, a FIFO.
func openRegular(dirfd int, name, path string) (*os.File, error) {
	fd, err := openFile(func() (int, error) { return openAt(dirfd, name, path) }, path)
	if err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openFile calls open, again when a signal interrupts it, and returns the
// descriptor, fs.ErrNotExist for a missing file, an error wrapping
// ErrCorrupt for a symbolic link (open uses O_NOFOLLOW), or a
// *fs.PathError.
func openFile(open func() (int, error), path string) (int, error) {
	fd, err := open()
	for err == syscall.EINTR {
		fd, err = open()
	}
	switch {
	case err == syscall.ENOENT:
		return -1, fs.ErrNotExist
	case err == syscall.ELOOP:
		return -1, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrCorrupt)}
	case err != nil:
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// fileCtime returns the change time of an open file, or the zero time
// where no stamp is known.
func fileCtime(f *os.File) time.Time {
	st := fdStamp(int(f.Fd()))
	if st.ino == 0 {
		return time.Time{}
	}
	return time.Unix(0, st.ctime)
}

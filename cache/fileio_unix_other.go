//go:build unix && !linux

package cache

import (
	"errors"
	"syscall"
)

// snapshots says whether DirStore keeps a snapshot on this system: only on
// Linux.
const snapshots = false

// openAt opens the file at path for reading (dirfd and name are for
// systems with openat).
func openAt(_ int, _, path string) (int, error) {
	const flags = syscall.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	return syscall.Open(path, flags, 0)
}

func fdStamp(int) fileStamp { return fileStamp{} }

func statAt(int, string) (fileStamp, error) { return fileStamp{}, errors.ErrUnsupported }

package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// socketPerms are the permissions of a Unix socket: its mode, and its
// group id, or -1 to leave the group as created. When gidOptional, a group
// that cannot be given (the process is not a member of it) is left as
// created, with a warning, instead of failing.
type socketPerms struct {
	mode        uint32
	gid         int
	gidOptional bool
}

// listenOn listens on a TCP host:port, or on the Unix socket PATH for
// "unix:PATH", which then gets perms. A socket file left by a previous run
// is replaced; any other file there is an error. warn, if not nil, says
// what was left undone (an optional group).
func listenOn(addr string, perms socketPerms) (ln net.Listener, warn, err error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		ln, err = net.Listen("tcp", addr)
		return ln, nil, err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	ln, err = net.Listen("unix", path)
	if err != nil {
		return nil, nil, err
	}
	// Until these calls the socket has the umask's mode (0755 under the
	// usual 022), which lets no other user connect: setting the mode late
	// opens nothing early.
	if perms.gid >= 0 {
		if err := os.Lchown(path, -1, perms.gid); err != nil {
			if !perms.gidOptional {
				ln.Close()
				return nil, nil, fmt.Errorf("-socket-group: %w", err)
			}
			warn = fmt.Errorf("socket group left as created: %w", err)
		}
	}
	if err := os.Chmod(path, os.FileMode(perms.mode)); err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("-socket-mode: %w", err)
	}
	return ln, warn, nil
}

// socketGID returns the group id the socket should get: -socket-group's,
// or the postfix group's when it exists and the flag was not given, or -1.
func socketGID(c *config) (int, error) {
	if c.socketGroup == "" {
		return -1, nil
	}
	gid, err := lookupGroup(c.socketGroup)
	if err != nil {
		if !c.socketGroupSet {
			return -1, nil // no postfix group here: leave the group alone
		}
		return -1, err
	}
	return gid, nil
}

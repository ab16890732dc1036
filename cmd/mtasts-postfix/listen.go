package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// socketPerms are the permissions of a Unix socket: its mode, and its
// group id, or -1 to leave the group as created.
type socketPerms struct {
	mode uint32
	gid  int
}

// listenOn listens on a TCP host:port, or on the Unix socket PATH for
// "unix:PATH", which then gets perms. A socket file left by a previous run
// is replaced; any other file there is an error.
func listenOn(addr string, perms socketPerms) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// Until these calls the socket has the umask's mode (0755 under the
	// usual 022), which lets no other user connect: setting the mode late
	// opens nothing early.
	if perms.gid >= 0 {
		if err := os.Lchown(path, -1, perms.gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("-socket-group: %w", err)
		}
	}
	if err := os.Chmod(path, os.FileMode(perms.mode)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("-socket-mode: %w", err)
	}
	return ln, nil
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

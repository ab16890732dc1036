// Package redistest runs a real redis-server on a loopback port for the
// tests of the Redis store and of resolvers sharing one.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process on a loopback port, private to a test.
type Server struct {
	// Addr is the server's host:port.
	Addr string
	cmd  *exec.Cmd
}

// Start starts redis-server on a free loopback port, without persistence,
// and stops it when the test ends. Without the binary, the test is
// skipped, unless the environment variable CI is set: then it fails, since
// CI installs redis-server and must test the Redis store.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not found, and CI is set: the Redis store must be tested in CI (%v)", err)
		}
		t.Skip("redis-server not found: install it (apt-get install redis-server) to test the Redis store; CI fails here")
	}
	for attempt := 0; ; attempt++ {
		s, err := tryStart(t, bin)
		if err == nil {
			return s
		}
		if attempt == 4 {
			t.Fatal(err)
		}
		t.Logf("redis-server: %v; retrying on another port", err)
	}
}

func tryStart(t testing.TB, bin string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--daemonize", "no")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT) // in case a test stopped it
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("exited: %s", out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			_, err = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			if err == nil {
				c.SetReadDeadline(time.Now().Add(time.Second))
				_, err = c.Read(buf)
			}
			c.Close()
			if err == nil && string(buf) == "+PONG\r\n" {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("not ready after 10 s: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  s.Addr,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// Kill kills the server with SIGKILL, as a crash would.
func (s *Server) Kill() error { return s.cmd.Process.Kill() }

// Stop freezes the server with SIGSTOP, as a hung host would; Cont resumes
// it.
func (s *Server) Stop() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Cont resumes a stopped server.
func (s *Server) Cont() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

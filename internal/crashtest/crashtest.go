// Package crashtest runs a copy of the test binary as a child process for
// a test to kill with SIGKILL: the crash tests of the stores and of the
// TLS-RPT journal. The child's work is chosen by an environment variable
// that the package's TestMain looks for before running any test.
package crashtest

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Child is a running copy of the test binary.
type Child struct {
	t   testing.TB
	cmd *exec.Cmd
	// Out is the child's standard output.
	Out    io.Reader
	stderr lockedBuilder
}

// lockedBuilder is a strings.Builder that the child's stderr copier and
// the test may use at once.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start starts the test binary, running no test, with env (NAME=value)
// added to the environment.
func Start(t testing.TB, env ...string) *Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &Child{t: t, cmd: exec.Command(exe, "-test.run=^$")}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stderr = &c.stderr
	if c.Out, err = c.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Stderr returns what the child wrote to its standard error so far.
func (c *Child) Stderr() string { return c.stderr.String() }

// Kill kills the child with SIGKILL and reaps it (see Reap). It closes
// Out: a test that reads Out to its end in a goroutine calls Signal, waits
// for that goroutine, and then Reap, so that no line written before the
// kill is lost.
func (c *Child) Kill(what string) {
	c.t.Helper()
	c.Signal()
	c.Reap(what)
}

// Signal sends SIGKILL to the child.
func (c *Child) Signal() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		c.t.Fatal(err)
	}
}

// Reap waits for the killed child. The test fails if the child had ended
// by itself or written to its standard error: what then lies on disk is
// not a crash's. what names the kill in the message.
func (c *Child) Reap(what string) {
	c.t.Helper()
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 || c.Stderr() != "" {
		c.t.Fatalf("%s: the child ended with %v before it was killed, stderr %q", what, err, c.Stderr())
	}
}

// Begin starts a crash test that runs n child processes: it skips the test
// under -short, and returns a random source whose seed it logs, so that a
// failing sequence of kills can be replayed.
func Begin(t testing.TB, n int) *rand.Rand {
	t.Helper()
	if testing.Short() {
		t.Skipf("starts %d processes", n)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed))
}

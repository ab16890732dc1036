package interop

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a server has to exit after SIGTERM before it is
// killed.
const stopGrace = 10 * time.Second

// proc is a server process started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string        // its standard output and error
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done
}

// startProc starts argv as a server called name, in its own process group,
// with its output in dir/name.out, and stops it (by its process id, then
// its group's) when the test ends, whatever the outcome.
func startProc(t testing.TB, name, dir string, argv ...string) *proc {
	t.Helper()
	return start(t, name, dir, true, argv)
}

// startSessionLeader is startProc for a program that makes itself a session
// leader (Postfix's master calls setsid, which a process group leader may
// not): its process group is then its own, with its pid as id, too.
func startSessionLeader(t testing.TB, name, dir string, argv ...string) *proc {
	t.Helper()
	return start(t, name, dir, false, argv)
}

func start(t testing.TB, name, dir string, setpgid bool, argv []string) *proc {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: setpgid}
	becomeSubreaper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: out.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM, then SIGKILL after stopGrace; then it
// kills whatever is left of its process group (workers, children).
func (p *proc) stop(t testing.TB) {
	pid := p.pid()
	if !p.exited() {
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			t.Errorf("%s (pid %d) ignored SIGTERM for %v: killed", p.name, pid, stopGrace)
			syscall.Kill(pid, syscall.SIGKILL)
			<-p.done
		}
	}
	// Children that outlive their parent (a worker, a server child) are in
	// its process group, whose id is its pid, and, this process being a
	// subreaper, are now children of this process: kill them and reap
	// them, so that no zombie is left to an init that may not reap.
	if err := syscall.Kill(-pid, 0); err == nil {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		for {
			if _, err := syscall.Wait4(-pid, nil, 0, nil); err != syscall.EINTR && err != nil {
				return // ECHILD: none left
			}
		}
	}()
	select {
	case <-reaped:
	case <-time.After(stopGrace):
		t.Errorf("%s (pid %d): children still running %v after SIGKILL", p.name, pid, stopGrace)
	}
}

var subreaper sync.Once

// becomeSubreaper makes this process the parent of the orphans of the
// servers it starts (PR_SET_CHILD_SUBREAPER), so that stop can reap them.
func becomeSubreaper() {
	subreaper.Do(func() {
		const prSetChildSubreaper = 36
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	})
}

// tail returns the last lines of the process's output, for failure
// messages.
func (p *proc) tail() string { return tailFile(p.log, 20) }

// tailFile returns the last n lines of the file at path.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n\t" + strings.Join(lines, "\n\t")
}

// errNotYet is what a probe returns while its condition does not hold.
var errNotYet = errors.New("not yet")

// waitFor calls probe until it returns nil, for at most limit, pausing a
// little longer between tries each time (from 5 ms up to 100 ms). It fails
// the test when limit passes, or at once when p (if not nil) exits.
func waitFor(t testing.TB, what string, limit time.Duration, p *proc, probe func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	pause := 5 * time.Millisecond
	for {
		err := probe()
		if err == nil {
			return
		}
		if p != nil && p.exited() {
			t.Fatalf("%s: %s exited (%v) before that:%s", what, p.name, p.err, p.tail())
		}
		if time.Now().After(deadline) {
			extra := ""
			if p != nil {
				extra = p.tail()
			}
			t.Fatalf("%s: not within %v: %v%s", what, limit, err, extra)
		}
		timer := time.NewTimer(pause)
		if p != nil {
			select {
			case <-timer.C:
			case <-p.done:
				timer.Stop()
			}
		} else {
			<-timer.C
		}
		pause = min(pause*2, 100*time.Millisecond)
	}
}

// dialable returns a probe that succeeds once addr accepts TCP connections.
func dialable(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// freePort returns a TCP and UDP port that is free on every one of the
// loopback addresses ips, for a server that takes its port in its
// configuration. Another process may take it before the server does; the
// server then fails to start and says so.
func freePort(t testing.TB, ips ...string) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if portFree(port, ips...) {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return 0
}

// portFree reports whether port can be bound for TCP and UDP on each of
// ips.
func portFree(port int, ips ...string) bool {
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, fmt.Sprint(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		ln.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

// requirePortFree fails the test when a fixed port (25, 53, 443) is taken
// on ip, naming what is in the way.
func requirePortFree(t testing.TB, ip string, port int) {
	t.Helper()
	if !portFree(port, ip) {
		t.Fatalf("port %d on %s is taken (a system service? stop it: the interop tests need it)", port, ip)
	}
}

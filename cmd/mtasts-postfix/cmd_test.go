package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The built binary, shared by the tests of one run.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildOut  []byte
	buildDir  string
)

// buildBinary builds the command once per test run and returns its path.
func buildBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = tempDirForRun()
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "mtasts-postfix")
		buildOut, buildErr = exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return builtBin
}

// proc is the command running as a separate process.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	log    syncBuffer
	addr   string // the socketmap address from the "listening" line
	maddr  string // the -metrics address, if any
	copied chan struct{}
	done   bool

	addrc, maddrc chan string
}

var (
	listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)
	metricsRE   = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
)

// start runs the binary with args and waits for its "listening" line. It
// is killed at the end of the test unless stopped before.
func start(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, bin, args...)
}

// startEnv is start with variables added to the environment.
func startEnv(t testing.TB, env []string, bin string, args ...string) *proc {
	t.Helper()
	return start0env(t, env, bin, args...).waitListening()
}

// waitListening waits for the listening line (and a metrics line, briefly).
func (p *proc) waitListening() *proc {
	t := p.t
	t.Helper()
	select {
	case p.addr = <-p.addrc:
	case <-p.copied:
		t.Fatalf("exited before listening; stderr:\n%s", p.log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("no listening line; stderr:\n%s", p.log.String())
	}
	if slicesIndex(p.cmd.Args, "-metrics") >= 0 {
		select {
		case p.maddr = <-p.maddrc:
		case <-time.After(20 * time.Second):
			t.Fatalf("no metrics listening line; stderr:\n%s", p.log.String())
		}
	}
	return p
}

// start0 starts the binary without waiting for anything.
func start0(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	return start0env(t, nil, bin, args...)
}

func start0env(t testing.TB, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := prepare(t, env, bin, args...)
	p.begin()
	return p
}

// prepare makes the process without starting it, so that a test may set
// more of its attributes; begin starts it.
func prepare(t testing.TB, env []string, bin string, args ...string) *proc {
	p := &proc{t: t, cmd: exec.Command(bin, args...), copied: make(chan struct{}),
		addrc: make(chan string, 1), maddrc: make(chan string, 1)}
	if len(env) > 0 {
		p.cmd.Env = append(os.Environ(), env...)
	}
	return p
}

func (p *proc) begin() {
	t := p.t
	t.Helper()
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.log.Write(append(sc.Bytes(), '\n'))
			if m := listeningRE.FindSubmatch(sc.Bytes()); m != nil {
				p.addrc <- string(m[1])
			}
			if m := metricsRE.FindSubmatch(sc.Bytes()); m != nil {
				p.maddrc <- string(m[1])
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		if !p.done {
			p.cmd.Process.Kill()
			<-p.copied
			p.cmd.Wait()
		}
	})
}

// startCmd starts a prepared process and waits for its listening line.
func startCmd(t testing.TB, p *proc) *proc {
	t.Helper()
	p.begin()
	return p.waitListening()
}

// stop sends SIGTERM and waits for the exit, which must be clean.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { <-p.copied; waited <- p.cmd.Wait() }()
	select {
	case err := <-waited:
		p.done = true
		if err != nil {
			p.t.Errorf("exit: %v; stderr:\n%s", err, p.log.String())
		}
	case <-time.After(20 * time.Second):
		p.t.Fatalf("did not stop on SIGTERM; stderr:\n%s", p.log.String())
	}
}

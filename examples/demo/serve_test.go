package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
)

// buildPkg builds the command in dir (relative to this package) and
// returns the binary's path.
func buildPkg(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// TestServe runs demo -serve as a user would, takes the flags it prints,
// runs lookup and check with them, then stops it with SIGTERM: it must
// exit 0 promptly and remove its CA file.
func TestServe(t *testing.T) {
	demo := cmdtest.Build(t, "demo")
	lookup, check := buildPkg(t, "../lookup"), buildPkg(t, "../check")

	cmd := exec.Command(demo, "-serve")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One goroutine reads the output: the lines up to "Press Ctrl-C",
	// then the rest, until the process ends.
	lines := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
				break
			}
		}
		close(lines)
		io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-done
		}
	}()

	// Read the flags, within 10 s.
	flags := map[string][]string{}
	deadline := time.After(10 * time.Second)
read:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break read
			}
			if prog, rest, found := strings.Cut(line, ":"); found && !strings.Contains(prog, " ") {
				flags[prog] = strings.Fields(rest)
			}
			if strings.HasPrefix(line, "Press Ctrl-C") {
				break read
			}
		case <-deadline:
			t.Fatalf("no flags printed within 10 s; stderr: %s", stderr.String())
		}
	}
	for _, prog := range []string{"lookup", "check", "relay", "postfix"} {
		if len(flags[prog]) < 6 || flags[prog][0] != "-dns" {
			t.Fatalf("flags for %s: %q", prog, flags[prog])
		}
	}
	ca := flags["lookup"][3]
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("-ca file: %v", err)
	}

	code, out, errOut := cmdtest.Run(t, lookup, append(flags["lookup"], "enforce.example", "mx1.enforce.example", "mx.attacker.example")...)
	if code != 0 || !bytes.Contains(out, []byte("enforce")) || !bytes.Contains(out, []byte("mx.attacker.example")) {
		t.Errorf("lookup: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cmdtest.Run(t, check, append(flags["check"], "good.example")...)
	if code != 0 || !bytes.Contains(out, []byte("mx2.good.example: preference 20, STARTTLS")) {
		t.Errorf("check good.example: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cmdtest.Run(t, check, append(flags["check"], "-json", "typo.example")...)
	if code != 1 || !bytes.Contains(out, []byte(`"fix-mode"`)) || !bytes.Contains(out, []byte(`"fix-trailing-blank-lines"`)) {
		t.Errorf("check typo.example: exit %d\n%s%s", code, out, errOut)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("demo -serve after SIGTERM: %v; stderr: %s", err, stderr.String())
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v to stop", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("demo -serve still running 5 s after SIGTERM")
	}
	if _, err := os.Stat(ca); !os.IsNotExist(err) {
		t.Errorf("CA file left behind: %v", err)
	}
}

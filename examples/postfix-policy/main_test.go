package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestBinary builds the command, runs it against the loopback world on a
// loopback port and checks its answers over the wire, then stops it with
// SIGTERM.
func TestBinary(t *testing.T) {
	bin := cmdtest.Build(t, "postfix-policy")
	w, world := cmdtest.World(t)
	add := func(d string, p testserver.Policy) {
		if _, err := w.AddDomain(d, p); err != nil {
			t.Fatal(err)
		}
	}
	add("enforce.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.test", "*.mx.enforce.test"}, MaxAge: 86400})
	add("testing.test", testserver.Policy{Mode: "testing", MX: []string{"mx.testing.test"}, MaxAge: 86400})
	add("broken.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.broken.test"}, MaxAge: 86400})
	w.Fault("mta-sts.broken.test", testserver.Status(500))
	add("servfail.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.servfail.test"}, MaxAge: 86400})
	w.Fault("_mta-sts.servfail.test", testserver.ServFail)

	sock, cacheDir := t.TempDir()+"/socket", t.TempDir()
	for _, tc := range []struct {
		name    string
		args    []string
		queries [][2]string
	}{
		{"default", []string{"-listen", "127.0.0.1:0"}, [][2]string{
			{"postfix enforce.test", enforceReply},
			{"postfix ENFORCE.test.", enforceReply},
			{"postfix testing.test", "NOTFOUND "},
			{"postfix plain.test", "NOTFOUND "},
			{"postfix broken.test", "NOTFOUND "},
			{"postfix servfail.test", "TEMP "},
			{"postfix [192.0.2.1]", "NOTFOUND "},
			{"mtasts enforce.test", enforceReply},
		}},
		{"strict_testing_map_unix", []string{"-listen", "unix:" + sock, "-strict-testing", "-map", "mtasts", "-cache-dir", cacheDir}, [][2]string{
			{"mtasts testing.test", "OK secure match=mx.testing.test servername=hostname"},
			{"mtasts enforce.test", enforceReply},
			{"postfix enforce.test", enforceReply},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"-timeout", "5s"}, world...), tc.args...)
			cmd := exec.Command(bin, args...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var log syncBuffer
			addrc := make(chan string, 1)
			copied := make(chan struct{})
			go func() {
				defer close(copied)
				listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					log.Write(append(sc.Bytes(), '\n'))
					if m := listening.FindSubmatch(sc.Bytes()); m != nil {
						addrc <- string(m[1])
					}
				}
				io.Copy(io.Discard, stderr)
			}()
			stopped := false
			defer func() {
				if !stopped {
					cmd.Process.Kill()
					<-copied
					cmd.Wait()
				}
			}()
			var addr string
			select {
			case addr = <-addrc:
			case <-time.After(20 * time.Second):
				t.Fatalf("no listening line; stderr:\n%s", log.String())
			}
			network := "tcp"
			if addr == sock {
				network = "unix"
			} else if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
				t.Fatalf("listening on %q", addr)
			}
			nc, err := net.DialTimeout(network, addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			c := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
			for _, q := range tc.queries {
				if got := c.query(q[0]); got != q[1] {
					t.Errorf("%q: got %q, want %q", q[0], got, q[1])
				}
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { <-copied; waited <- cmd.Wait() }()
			select {
			case err := <-waited:
				stopped = true
				if err != nil {
					t.Errorf("exit: %v; stderr:\n%s", err, log.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("did not stop on SIGTERM; stderr:\n%s", log.String())
			}
			if !c.closed() {
				t.Error("connection left open after exit")
			}
			if !strings.Contains(log.String(), "msg=stopped") {
				t.Errorf("no stopped line; stderr:\n%s", log.String())
			}
			if network == "unix" {
				if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("socket file left behind: %v", err)
				}
				if _, err := os.Stat(filepath.Join(cacheDir, "enforce.test.json")); err != nil {
					t.Errorf("-cache-dir: %v", err)
				}
			}
		})
	}
}

// TestUsage: bad flags exit 64 without listening.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-nosuchflag"},
		{"extra-arg"},
		{"-map", ""},
		{"-map", "two words"},
		{"-timeout", "0s"},
		{"-max-conns", "0"},
		{"-https-port", "70000"},
		{"-ca", "/nonexistent/ca.pem"},
	} {
		var stderr bytes.Buffer
		if code := run(t.Context(), append([]string{"-listen", "127.0.0.1:0"}, args...), &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, stderr.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

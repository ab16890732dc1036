package main

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestBinary builds the command, runs it against the loopback world on a
// loopback port and checks its answers over the wire, then stops it with
// SIGTERM.
func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	w, world := cmdtest.World(t)
	add := func(d string, p testserver.Policy) {
		cmdtest.AddDomain(t, w, d, p)
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
			{"postfix servfail.test", tempPrefix + "servfail.test*"},
			{"postfix [192.0.2.1]", "NOTFOUND "},
			{"mtasts enforce.test", enforceReply},
		}},
		{"strict_testing_map_unix", []string{"-listen", "unix:" + sock, "-strict-testing", "-map", "mtasts", "-cache-dir", cacheDir}, [][2]string{
			{"mtasts testing.test", "OK secure match=mx.testing.test servername=hostname"},
			{"mtasts enforce.test", enforceReply},
			{"postfix enforce.test", enforceReply},
		}},
		{"grace_negative", []string{"-listen", "127.0.0.1:0", "-dns-error-grace", "-1s"}, [][2]string{
			{"postfix servfail.test", "NOTFOUND "},
			{"postfix enforce.test", enforceReply},
		}},
		{"tlsrpt", []string{"-listen", "127.0.0.1:0", "-tlsrpt"}, [][2]string{
			{"postfix enforce.test", enforceReply + " policy_type=sts policy_domain=enforce.test" +
				" mx_host_pattern=mx1.enforce.test mx_host_pattern=*.mx.enforce.test" +
				" { policy_string = version: STSv1 } { policy_string = mode: enforce }" +
				" { policy_string = mx: mx1.enforce.test } { policy_string = mx: *.mx.enforce.test }" +
				" { policy_string = max_age: 86400 }"},
			{"postfix testing.test", "NOTFOUND "},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"-timeout", "5s"}, world...), tc.args...)
			p := start(t, bin, args...)
			network := "tcp"
			if p.addr == sock {
				network = "unix"
			} else if host, _, _ := net.SplitHostPort(p.addr); host != "127.0.0.1" {
				t.Fatalf("listening on %q", p.addr)
			}
			c := dialNet(t, network, p.addr)
			for _, q := range tc.queries {
				if got := c.query(q[0]); !replyMatches(got, q[1]) {
					t.Errorf("%q: got %q, want %q", q[0], got, q[1])
				}
			}
			p.stop()
			if !c.closed() {
				t.Error("connection left open after exit")
			}
			if !strings.Contains(p.log.String(), "msg=stopped") {
				t.Errorf("no stopped line; stderr:\n%s", p.log.String())
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

// dialNet is dial on network "tcp" or "unix".
func dialNet(t testing.TB, network, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
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
		{"-socket-mode", "999"},
		{"-socket-mode", "01777"},
		{"-socket-group", "no-such-group-here"},
		{"-metrics", "192.0.2.1:9100"},
		{"-metrics", "nohostport"},
		{"-cache-dir", "/tmp/x", "-redis", "redis://127.0.0.1:1/0"},
		{"-redis", "http://127.0.0.1/"},
		{"-overrides", "/nonexistent/overrides"},
		{"-log", "/nonexistent/dir/log"},
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

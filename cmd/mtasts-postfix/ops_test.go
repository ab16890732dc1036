package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/redistest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// enforceWorld starts a world with enforce.test and testing.test.
func enforceWorld(t *testing.T) (*testserver.World, []string) {
	t.Helper()
	w, world := cmdtest.World(t)
	cmdtest.AddDomain(t, w, "enforce.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.test", "*.mx.enforce.test"}, MaxAge: 86400})
	cmdtest.AddDomain(t, w, "testing.test", testserver.Policy{Mode: "testing", MX: []string{"mx.testing.test"}, MaxAge: 86400})
	return w, append([]string{"-timeout", "5s"}, world...)
}

// TestSocketPermissions: the Unix socket gets -socket-mode and
// -socket-group; by default 0660 and the postfix group when it exists
// (else its group is left as created).
func TestSocketPermissions(t *testing.T) {
	bin := buildBinary(t)
	_, world := enforceWorld(t)
	defaultGID := os.Getegid()
	if g, err := user.LookupGroup(DefaultSocketGroup); err == nil {
		defaultGID, _ = strconv.Atoi(g.Gid)
	}
	// A group other than the process's own, when there is one to use.
	other, otherName := os.Getegid(), strconv.Itoa(os.Getegid())
	if g, err := user.LookupGroup("nogroup"); err == nil && os.Geteuid() == 0 {
		other, _ = strconv.Atoi(g.Gid)
		otherName = "nogroup"
	}
	for _, tc := range []struct {
		name     string
		args     []string
		wantMode os.FileMode
		wantGID  int
	}{
		{"default", nil, 0o660, defaultGID},
		{"explicit", []string{"-socket-mode", "0600", "-socket-group", otherName}, 0o600, other},
		{"group_left_alone", []string{"-socket-mode", "666", "-socket-group", ""}, 0o666, os.Getegid()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "socket")
			// A stale socket file of a previous run is replaced.
			if err := os.WriteFile(sock+".probe", nil, 0o600); err != nil {
				t.Fatal(err)
			}
			p := start(t, bin, append(append(world, "-listen", "unix:"+sock), tc.args...)...)
			fi, err := os.Stat(sock)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != tc.wantMode {
				t.Errorf("mode %v, want socket %v", fi.Mode(), tc.wantMode)
			}
			if gid := int(fi.Sys().(*syscall.Stat_t).Gid); gid != tc.wantGID {
				t.Errorf("gid %d, want %d", gid, tc.wantGID)
			}
			c := dialNet(t, "unix", sock)
			if got := c.query("postfix enforce.test"); got != enforceReply {
				t.Errorf("got %q", got)
			}
			p.stop()
		})
	}
	t.Run("default_group_not_a_member", func(t *testing.T) {
		// A user outside the postfix group keeps its socket's group, with a
		// warning, unless it asked for the group.
		if os.Geteuid() != 0 {
			t.Skip("needs root to run the binary as another user")
		}
		if _, err := user.LookupGroup(DefaultSocketGroup); err != nil {
			t.Skip("no postfix group here")
		}
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Skip("no nobody user")
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		dir, err := os.MkdirTemp("", "mtasts-postfix-nobody-") // t.TempDir's parent is closed to others
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		for _, d := range []string{dir, filepath.Dir(bin)} {
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		sock := filepath.Join(dir, "socket")
		p := prepare(t, nil, bin, "-listen", "unix:"+sock)
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		p2 := startCmd(t, p)
		fi, err := os.Stat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o660 || int(fi.Sys().(*syscall.Stat_t).Gid) != gid {
			t.Errorf("mode %v gid %d, want 0660 and the process's group %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, gid)
		}
		if !strings.Contains(p2.log.String(), "socket group left as created") {
			t.Errorf("no warning; stderr:\n%s", p2.log.String())
		}
		p2.stop()

		q := prepare(t, nil, bin, "-listen", "unix:"+sock, "-socket-group", DefaultSocketGroup)
		q.cmd.SysProcAttr = p.cmd.SysProcAttr
		code, log := runCmd(t, q)
		if code != exitError {
			t.Errorf("-socket-group postfix, not a member: exit %d, want %d\n%s", code, exitError, log)
		}
	})
	t.Run("stale_socket_replaced", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "socket")
		p := start(t, bin, append(world, "-listen", "unix:"+sock)...)
		p.cmd.Process.Kill() // leaves the socket file behind
		p.cmd.Wait()
		p.done = true
		if _, err := os.Lstat(sock); err != nil {
			t.Fatalf("no stale socket to test with: %v", err)
		}
		q := start(t, bin, append(world, "-listen", "unix:"+sock)...)
		if got := dialNet(t, "unix", sock).query("postfix enforce.test"); got != enforceReply {
			t.Errorf("got %q", got)
		}
		q.stop()
	})
	t.Run("other_file_kept", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "socket")
		if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _ := runBinary(t, bin, append(world, "-listen", "unix:"+path)...)
		if code != exitError {
			t.Errorf("exit %d, want %d", code, exitError)
		}
		if b, _ := os.ReadFile(path); string(b) != "data" {
			t.Error("a regular file in the socket's place was touched")
		}
	})
}

// runBinary runs bin to its end (bounded) and returns its exit status and
// stderr.
func runBinary(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	return runCmd(t, start0(t, bin, args...))
}

// runCmd starts p's command if it is not yet started and waits for its end
// (bounded).
func runCmd(t *testing.T, p *proc) (int, string) {
	t.Helper()
	if p.cmd.Process == nil {
		p.begin()
	}
	select {
	case <-p.copied:
	case <-time.After(20 * time.Second):
		t.Fatalf("still running; stderr:\n%s", p.log.String())
	}
	p.cmd.Wait()
	p.done = true
	return p.cmd.ProcessState.ExitCode(), p.log.String()
}

// TestSIGHUP: SIGHUP reopens the log file, rereads the overrides and the
// roots, and keeps the connection open and the cache: with the policy
// host and the TXT record failing afterwards, the policy still applies.
func TestSIGHUP(t *testing.T) {
	bin := buildBinary(t)
	w, world := enforceWorld(t)
	dir := t.TempDir()
	logPath, overrides := filepath.Join(dir, "log"), filepath.Join(dir, "overrides")
	if err := os.WriteFile(overrides, []byte("# none yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := world[slicesIndex(world, "-ca")+1]
	p := startLogged(t, bin, logPath, append(world, "-listen", "127.0.0.1:0", "-log", logPath, "-overrides", overrides)...)
	c := dial(t, p.addr)
	if got := c.query("postfix enforce.test"); got != enforceReply {
		t.Fatalf("got %q", got)
	}
	if got := c.query("postfix testing.test"); got != "NOTFOUND " {
		t.Fatalf("got %q", got)
	}

	// logrotate moves the file; new overrides; the CA file rewritten (the
	// same root, other bytes), which puts a new resolver in place.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(overrides, []byte("testing.test enforce\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, append(pem, "\n# rotated\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	w.Fault("_mta-sts.enforce.test", testserver.ServFail)
	w.Fault("mta-sts.enforce.test", testserver.Status(500))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { b, _ := os.ReadFile(logPath); return strings.Contains(string(b), "reloaded") },
		"a reloaded line in the reopened log")
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "new roots in use") {
		t.Errorf("the CA file change was not taken; log:\n%s", b)
	}
	for range 3 {
		if got := c.query("postfix enforce.test"); got != enforceReply {
			t.Fatalf("after SIGHUP, same connection: got %q (cache lost?)", got)
		}
	}
	if got := c.query("postfix testing.test"); got != "OK secure match=mx.testing.test servername=hostname" {
		t.Errorf("after SIGHUP, testing.test enforce override: got %q", got)
	}
	if got := dial(t, p.addr).query("postfix enforce.test"); got != enforceReply {
		t.Errorf("after SIGHUP, new connection: got %q", got)
	}
	// A bad overrides file is refused and the old one kept.
	if err := os.WriteFile(overrides, []byte("testing.test sometimes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { b, _ := os.ReadFile(logPath); return strings.Count(string(b), "reloaded") >= 2 }, "a second reload")
	if got := c.query("postfix testing.test"); got != "OK secure match=mx.testing.test servername=hostname" {
		t.Errorf("after a bad overrides file: got %q", got)
	}
	p.stop()
}

// TestRedis: two servers share policies through Redis: the second, started
// after the first fetched, answers from the shared store although the
// domain's DNS and policy host have failed since.
func TestRedis(t *testing.T) {
	bin := buildBinary(t)
	rs := redistest.Start(t)
	w, world := enforceWorld(t)
	args := append(world, "-listen", "127.0.0.1:0", "-redis", "redis://"+rs.Addr+"/3")
	a := start(t, bin, args...)
	if got := dial(t, a.addr).query("postfix enforce.test"); got != enforceReply {
		t.Fatalf("first server: got %q", got)
	}
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr, DB: 3})
	defer rc.Close()
	// Store writes go through the resolver's write-behind queue: the answer
	// does not wait for them, so wait (bounded) for the group to commit.
	var keys []string
	var err error
	waitFor(t, func() bool {
		keys, err = rc.Keys(t.Context(), "*").Result()
		return err == nil && len(keys) > 0
	}, "the policy in redis db 3")
	if len(keys) != 1 || !strings.HasSuffix(keys[0], "enforce.test") {
		t.Fatalf("redis db 3 holds %q, %v; want the enforce.test policy", keys, err)
	}
	w.Fault("_mta-sts.enforce.test", testserver.ServFail)
	w.Fault("mta-sts.enforce.test", testserver.Status(500))
	b := start(t, bin, args...)
	if got := dial(t, b.addr).query("postfix enforce.test"); got != enforceReply {
		t.Errorf("second server: got %q, want the shared policy", got)
	}
	a.stop()
	b.stop()
}

// TestMetricsAndAdmin: -metrics serves the metrics, /healthz and the admin
// endpoints.
func TestMetricsAndAdmin(t *testing.T) {
	bin := buildBinary(t)
	w, world := enforceWorld(t)
	w.Fault("_mta-sts.servfail.test", testserver.ServFail)
	p := start(t, bin, append(world, "-listen", "127.0.0.1:0", "-metrics", "127.0.0.1:0")...)
	if p.maddr == "" {
		t.Fatalf("no metrics listening line; stderr:\n%s", p.log.String())
	}
	c := dial(t, p.addr)
	for _, q := range []string{"enforce.test", "enforce.test", "testing.test", "servfail.test"} {
		c.query("postfix " + q)
	}
	base := "http://" + p.maddr
	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	_, metrics := get("GET", "/metrics")
	for _, want := range []string{
		`mtasts_postfix_queries_total{answer="ok"} 2`,
		`mtasts_postfix_queries_total{answer="notfound"} 1`,
		`mtasts_postfix_queries_total{answer="temp"} 1`,
		`mtasts_postfix_cache_hits_total 1`,
		`mtasts_postfix_cache_misses_total 2`,
		`mtasts_postfix_fetches_total{result="ok"} 2`,
		`mtasts_postfix_dns_temporary_failures_total 1`,
		`mtasts_postfix_connections_open 1`,
		`mtasts_postfix_cached_policies{mode="enforce"} 1`,
		`mtasts_postfix_refresh_lag_seconds`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	code, body := get("GET", "/admin/policies")
	var list []policyJSON
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != 2 || list[0].Domain != "enforce.test" || list[0].Mode != "enforce" {
		t.Errorf("/admin/policies: %d %v %s", code, err, body)
	}
	if code, _ := get("GET", "/admin/policies/nowhere.test"); code != 404 {
		t.Errorf("/admin/policies/nowhere.test: %d, want 404", code)
	}
	if code, body := get("POST", "/admin/purge/enforce.test"); code != 200 {
		t.Errorf("purge: %d %s", code, body)
	}
	if code, _ := get("GET", "/admin/policies/enforce.test"); code != 404 {
		t.Errorf("after purge: %d, want 404", code)
	}
	code, body = get("POST", "/admin/refresh/enforce.test")
	var rj refreshJSON
	if err := json.Unmarshal([]byte(body), &rj); code != 200 || err != nil || rj.Policy == nil || rj.Policy.Mode != "enforce" || rj.Error != "" {
		t.Errorf("refresh: %d %v %s", code, err, body)
	}
	if code, _ := get("POST", "/admin/purge/not..a..domain"); code != 400 {
		t.Errorf("purge of a bad name: %d, want 400", code)
	}
	if code, _ := get("GET", "/admin/purge/enforce.test"); code != 405 {
		t.Errorf("GET on purge: %d, want 405", code)
	}
	p.stop()
}

// startLogged is start for a process that logs to a file: it waits for
// the listening line there.
func startLogged(t *testing.T, bin, logPath string, args ...string) *proc {
	t.Helper()
	p := start0(t, bin, args...)
	waitFor(t, func() bool {
		b, _ := os.ReadFile(logPath)
		if m := listeningRE.FindSubmatch(b); m != nil {
			p.addr = string(m[1])
			return true
		}
		return false
	}, "the listening line in -log")
	return p
}

// waitFor polls cond every 10 ms for up to 20 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

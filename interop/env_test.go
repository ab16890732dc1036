package interop

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// inCI reports whether the tests run in CI, where a missing server is a
// failure rather than a reason to skip.
func inCI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// need returns the path of each named program (looked up in PATH, then in
// /usr/sbin and /sbin, where Debian puts the servers), skipping the test
// when one is missing, or failing it in CI.
func need(t testing.TB, names ...string) []string {
	t.Helper()
	var paths, missing []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			for _, dir := range []string{"/usr/sbin/", "/sbin/", "/usr/lib/postfix/sbin/"} {
				if fi, err := os.Stat(dir + n); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					p = dir + n
					break
				}
			}
		}
		if p == "" {
			missing = append(missing, n)
			continue
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		msg := "interop: missing " + strings.Join(missing, ", ") +
			" (Debian packages: nsd unbound nginx postfix ldnsutils; see interop/README.md)"
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg + "; set CI=true to make this a failure")
	}
	return paths
}

// needRoot skips (or, in CI, fails) a test that must bind port 25, 53 or 443
// or mount a private resolv.conf.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "interop: must run as root (ports 25, 53 and 443 on loopback, a private mount namespace)"
	if inCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// socketmapBin is the project's Postfix socketmap server, built for the
// test.
type socketmapBin struct {
	path  string
	usage string // what -h prints: which flags this version has
}

// has reports whether the server has the flag (such as "-dns-error-grace").
func (b socketmapBin) has(flag string) bool {
	return strings.Contains(b.usage, flag+" ") || strings.Contains(b.usage, flag+"\n")
}

// buildSocketmap builds the socketmap server, cmd/mtasts-postfix, into a
// temporary directory. INTEROP_SOCKETMAP, if set, names a server binary to
// use instead (one installed, or built from another tree).
func buildSocketmap(t testing.TB) socketmapBin {
	t.Helper()
	if bin := os.Getenv("INTEROP_SOCKETMAP"); bin != "" {
		usage, _ := exec.Command(bin, "-h").CombinedOutput()
		t.Logf("socketmap server: %s (INTEROP_SOCKETMAP)", bin)
		return socketmapBin{path: bin, usage: string(usage)}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go not in PATH: cannot build the socketmap server")
	}
	pkg := "./cmd/mtasts-postfix"
	out := filepath.Join(t.TempDir(), "mtasts-postfix")
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	usage, _ := exec.Command(out, "-h").CombinedOutput()
	t.Logf("socketmap server: %s", pkg)
	return socketmapBin{path: out, usage: string(usage)}
}

// Package cmdtest runs the project's commands and examples the way their
// users do: built, as a separate process, against the loopback world.
package cmdtest

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// Build builds the command in the current directory (a test's package) into
// a temporary directory and returns the binary's path.
func Build(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// World starts a loopback world for the test and returns it with the flags
// that point a command at it: -dns, -ca (its CA, written to a file) and
// -https-port.
func World(t testing.TB) (*testserver.World, []string) {
	t.Helper()
	w := testserver.Start(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := w.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	return w, []string{"-dns", w.DNSAddr(), "-ca", ca, "-https-port", strconv.Itoa(w.HTTPSPort())}
}

// Run runs bin with args and returns its exit status and output.
func Run(t testing.TB, bin string, args ...string) (code int, stdout, stderr []byte) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.Bytes(), errOut.Bytes()
	case err != nil:
		t.Fatal(err)
	}
	return 0, out.Bytes(), errOut.Bytes()
}

// AddDomain adds an MTA-STS domain to the world, as
// [testserver.World.AddDomain] does, and fails the test on error. It
// returns the policy's id.
func AddDomain(tb testing.TB, w *testserver.World, domain string, p testserver.Policy) string {
	tb.Helper()
	id, err := w.AddDomain(domain, p)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// Args returns base followed by args, in a new slice: base is left as it
// was, so that one set of world flags serves many runs.
func Args(base []string, args ...string) []string {
	return append(append(make([]string, 0, len(base)+len(args)), base...), args...)
}

// SMTPFlags returns the flags -smtp-addr host=addr that send a command's
// SMTP connections for each of hosts to the world's server for it.
func SMTPFlags(w *testserver.World, hosts ...string) []string {
	flags := make([]string, 0, 2*len(hosts))
	for _, h := range hosts {
		flags = append(flags, "-smtp-addr", h+"="+w.SMTPAddr(h))
	}
	return flags
}

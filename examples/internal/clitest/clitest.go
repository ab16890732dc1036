// Package clitest holds what the tests of the example commands share beyond
// internal/cmdtest: the contract of -h that every command keeps, and MX
// hosts that a command finds through the loopback world's DNS.
package clitest

import (
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// Help checks the command built at bin: help was asked for, so -h, -help
// and --help print a usage message on stderr and exit 0; a flag that does
// not exist is still a usage error (64).
func Help(t *testing.T, bin string) {
	t.Helper()
	for _, args := range [][]string{{"-h"}, {"-help"}, {"--help"}} {
		if code, _, stderr := cmdtest.Run(t, bin, args...); code != 0 || !strings.Contains(string(stderr), "usage") {
			t.Errorf("%q: exit %d\n%s", args, code, stderr)
		}
	}
	if code, _, _ := cmdtest.Run(t, bin, "-nosuchflag"); code != 64 {
		t.Errorf("bad flag: exit %d, want 64", code)
	}
}

// SMTPHost starts an SMTP server for host in w and gives host the world's
// loopback IP as its address, so that a command that resolves the host
// through the world's DNS reaches it. It fails the test on error.
func SMTPHost(t testing.TB, w *testserver.World, host string) {
	t.Helper()
	if _, err := w.AddSMTPHost(host); err != nil {
		t.Fatal(err)
	}
	w.SetAddrs(host, w.IP())
}

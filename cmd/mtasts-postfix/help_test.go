package main

import (
	"strings"
	"testing"
)

// TestHelpExitsZero: help was asked for, so the server prints its usage and
// exits 0; a bad flag is still a usage error (64).
func TestHelpExitsZero(t *testing.T) {
	bin := buildBinary(t)
	for _, arg := range []string{"-h", "-help"} {
		if code, stderr := runBinary(t, bin, arg); code != exitOK || !strings.Contains(stderr, "usage") {
			t.Errorf("%s: exit %d\n%s", arg, code, stderr)
		}
	}
	if code, _ := runBinary(t, bin, "-nosuchflag"); code != exitUsage {
		t.Errorf("bad flag: exit %d, want %d", code, exitUsage)
	}
}

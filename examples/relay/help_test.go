package main

import (
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
)

// TestHelpExitsZero: help was asked for, so relay prints its usage and
// exits 0; a bad flag is still a usage error (64).
func TestHelpExitsZero(t *testing.T) {
	bin := cmdtest.Build(t, "relay")
	for _, args := range [][]string{{"-h"}, {"-help"}} {
		if code, _, stderr := cmdtest.Run(t, bin, args...); code != 0 || !strings.Contains(string(stderr), "usage") {
			t.Errorf("%q: exit %d\n%s", args, code, stderr)
		}
	}
	if code, _, _ := cmdtest.Run(t, bin, "-nosuchflag"); code != 64 {
		t.Errorf("bad flag: exit %d, want 64", code)
	}
}

package main

import (
	"testing"

	"github.com/mtasts-go/mtasts/examples/internal/clitest"
	"github.com/mtasts-go/mtasts/internal/cmdtest"
)

// TestUsage checks the exit status of help (0: it was asked for) and of bad
// usage (64, as every command of the project).
func TestUsage(t *testing.T) {
	bin := cmdtest.Build(t, "demo")
	clitest.Help(t, bin)
	if code, _, _ := cmdtest.Run(t, bin, "extra"); code != 64 {
		t.Errorf("demo %q exited %d, want 64", "extra", code)
	}
}

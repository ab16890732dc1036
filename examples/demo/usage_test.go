package main

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
)

// TestUsage checks the exit status of help (0: it was asked for) and of bad
// usage (64, as every command of the project).
func TestUsage(t *testing.T) {
	bin := cmdtest.Build(t, "demo")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-no-such-flag"}, 64},
		{[]string{"extra"}, 64},
	} {
		err := exec.Command(bin, tc.args...).Run()
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("demo %q exited %d, want %d", tc.args, got, tc.want)
		}
	}
}

package main

import (
	"testing"

	"github.com/mtasts-go/mtasts/examples/internal/clitest"
	"github.com/mtasts-go/mtasts/internal/cmdtest"
)

// TestHelpExitsZero: help was asked for, so check prints its usage and
// exits 0; a bad flag is still a usage error (64).
func TestHelpExitsZero(t *testing.T) {
	clitest.Help(t, cmdtest.Build(t, "check"))
}

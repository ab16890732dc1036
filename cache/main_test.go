package cache_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as a writer that it kills.
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashWriter(dir, os.Getenv(crashStartEnv))
		os.Exit(0)
	}
	if dir := os.Getenv(snapCrashDirEnv); dir != "" {
		snapCrashWriter(dir)
		os.Exit(0)
	}
	if dir := os.Getenv(burstDirEnv); dir != "" {
		burstWriter(dir)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

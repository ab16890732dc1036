package tlsrpt

import (
	"encoding/json"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir, os.Getenv(crashDNSEnv)) // the child of TestReporterCrash
		return
	}
	goleak.VerifyTestMain(m)
}

// loadJSON reads testdata/file into a value of type T.
func loadJSON[T any](tb testing.TB, file string) T {
	tb.Helper()
	var v T
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	return v
}

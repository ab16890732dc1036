package mtaststest_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADME checks that the Go code README.md shows under "Deliver under
// MTA-STS" and "Test your delivery code" is the code of
// readme_example_test.go, which compiles and runs (Example, TestDeliver),
// so that the two cannot drift apart.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("readme_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, section := range []string{"### Deliver under MTA-STS", "### Test your delivery code"} {
		block, ok := goBlockAfter(string(readme), section)
		if !ok {
			t.Errorf("README.md has no Go block under %q", section)
			continue
		}
		if !strings.Contains(string(src), block) {
			t.Errorf("README.md's Go block under %q is not in readme_example_test.go; copy it from there:\n%s", section, block)
		}
	}
}

// goBlockAfter returns the first ```go block of md after the line that
// begins with heading, without its fences.
func goBlockAfter(md, heading string) (string, bool) {
	i := strings.Index(md, "\n"+heading)
	if i < 0 {
		return "", false
	}
	md = md[i:]
	start := strings.Index(md, "\n```go\n")
	if start < 0 {
		return "", false
	}
	md = md[start+len("\n```go\n"):]
	end := strings.Index(md, "\n```\n")
	if end < 0 {
		return "", false
	}
	return md[:end+1], true
}

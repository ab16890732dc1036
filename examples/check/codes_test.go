package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCodesDocumented checks that every finding code the checker can emit
// is in the package documentation's list, and that the list names no code
// the checker cannot emit: scripts rely on it.
func TestCodesDocumented(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	emit := regexp.MustCompile(`(?:\badd|\bfail|errorf|note\{)\(?"([a-z0-9]+(?:-[a-z0-9]+)+)"`)
	var doc string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range emit.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		if f == "main.go" {
			doc = string(b)
		}
	}
	i := strings.Index(doc, "// The codes: ")
	j := strings.Index(doc[i:], ".\n")
	if i < 0 || j < 0 {
		t.Fatal("no list of codes in main.go's documentation")
	}
	list := strings.NewReplacer("//", " ", ";", ",", "\n", " ").Replace(doc[i+len("// The codes: ") : i+j])
	var documented []string
	for _, c := range strings.Split(list, ",") {
		documented = append(documented, strings.TrimSpace(c))
	}
	for c := range used {
		if !slices.Contains(documented, c) {
			t.Errorf("code %q is emitted but not documented", c)
		}
	}
	for _, c := range documented {
		if !used[c] {
			t.Errorf("code %q is documented but never emitted", c)
		}
	}
	if len(used) < 50 {
		t.Errorf("found only %d codes in the source: is the pattern stale?", len(used))
	}
}

package cli

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommand: -h is a success that prints the usage message, a bad flag
// and bad arguments are usage errors (64), an error is reported after the
// command's name.
func TestCommand(t *testing.T) {
	const usage = "usage: x [-n N] ARG"
	newCmd := func() (*Command, *bytes.Buffer) {
		var stderr bytes.Buffer
		c := NewCommand("x", usage, &stderr)
		c.Flags.Int("n", 3, "how many")
		return c, &stderr
	}
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		ok     bool
		stderr string // a substring; "" for nothing at all
	}{
		{"help", []string{"-h"}, 0, false, usage + "\n  -n int\n    \thow many (default 3)\n"},
		{"help_long", []string{"-help"}, 0, false, usage + "\n"},
		{"bad_flag", []string{"-nosuchflag"}, ExitUsage, false, "flag provided but not defined: -nosuchflag\n" + usage + "\n"},
		{"bad_value", []string{"-n", "many"}, ExitUsage, false, usage + "\n"},
		{"parsed", []string{"-n", "4", "arg"}, 0, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, stderr := newCmd()
			status, ok := c.Parse(tc.args)
			if status != tc.status || ok != tc.ok {
				t.Errorf("Parse(%q) = %d, %v; want %d, %v", tc.args, status, ok, tc.status, tc.ok)
			}
			if tc.stderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want %q in it", stderr, tc.stderr)
			}
		})
	}

	c, stderr := newCmd()
	if got := c.Usage(); got != ExitUsage || !strings.HasPrefix(stderr.String(), usage+"\n") {
		t.Errorf("Usage() = %d, printed %q", got, stderr)
	}
	c, stderr = newCmd()
	if got := c.UsageError(errors.New("no such domain")); got != ExitUsage || stderr.String() != "x: no such domain\n" {
		t.Errorf("UsageError() = %d, printed %q", got, stderr)
	}
}

// TestWriteJSON: one object, indented by two spaces, ending in a newline.
func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, map[string]any{"domain": "example.com", "mx": []string{}}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"domain\": \"example.com\",\n  \"mx\": []\n}\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestWorldOpen: the DNS client comes first, then the roots; no -ca is the
// system's pool (nil), an unreadable one an error.
func TestWorldOpen(t *testing.T) {
	w := World{DNS: "127.0.0.1:53"}
	dc, roots, err := w.Open()
	if err != nil || dc == nil || roots != nil {
		t.Errorf("Open() = %v, %v, %v; want a client, nil, nil", dc, roots, err)
	}
	w.CA = filepath.Join(t.TempDir(), "missing.pem")
	if _, _, err := w.Open(); err == nil {
		t.Error("Open() with a missing -ca file: no error")
	}
}

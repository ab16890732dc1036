package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestMXLookedUpWhenNoneGiven: with no MX host on the command line, lookup
// checks the domain's own MX hosts, found through the configured DNS, in
// preference order; with none, the domain itself (RFC 5321 section 5.1);
// a null MX means no host at all.
func TestMXLookedUpWhenNoneGiven(t *testing.T) {
	bin := cmdtest.Build(t, "lookup")
	w, base := cmdtest.World(t)
	cmdtest.AddDomain(t, w, "two.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.two.test", "mx2.two.test"}, MaxAge: 86400})
	w.SetMX("two.test", "mx2.two.test", "mx1.two.test", "evil.example")
	if err := w.AddRecords("null.test. MX 0 .\n"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		domain string
		hosts  []string
	}{
		{"two.test", []string{"mx2.two.test", "mx1.two.test", "evil.example"}},
		{"bare.test", []string{"bare.test"}},
		{"null.test", nil},
	} {
		_, stdout, stderr := cmdtest.Run(t, bin, cmdtest.Args(base, "-timeout", "3s", "-json", tc.domain)...)
		var o struct {
			MX []struct{ Host, Action string } `json:"mx"`
		}
		if err := json.Unmarshal(stdout, &o); err != nil {
			t.Fatalf("%s: %v\n%s\n%s", tc.domain, err, stdout, stderr)
		}
		var hosts []string
		for _, m := range o.MX {
			hosts = append(hosts, m.Host)
		}
		if strings.Join(hosts, " ") != strings.Join(tc.hosts, " ") {
			t.Errorf("%s: MX checked %q, want %q\n%s", tc.domain, hosts, tc.hosts, stdout)
		}
	}
}

// TestTextNoPolicyIsNotModeNone: the text output says "no policy" for a
// domain without one, and "mode none" for a policy whose mode is none.
func TestTextNoPolicyIsNotModeNone(t *testing.T) {
	bin := cmdtest.Build(t, "lookup")
	w, base := cmdtest.World(t)
	cmdtest.AddDomain(t, w, "off.test", testserver.Policy{Mode: "none", MaxAge: 86400})
	run := func(d string) string {
		_, stdout, _ := cmdtest.Run(t, bin, cmdtest.Args(base, "-timeout", "3s", d, "mx."+d)...)
		return string(stdout)
	}
	if out := run("off.test"); !strings.Contains(out, "mode none") || strings.Contains(out, "no policy") {
		t.Errorf("mode none:\n%s", out)
	}
	if out := run("plain.test"); !strings.Contains(out, "no policy") || strings.Contains(out, "mode none") {
		t.Errorf("no policy:\n%s", out)
	}
}

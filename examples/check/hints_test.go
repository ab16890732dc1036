package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
)

const goodPolicy = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n"

// mistakes are real-world ways a policy file fails, each with the fix check
// must name: the code and a substring of its message.
var mistakes = []struct {
	name, body, code, fix string
}{
	{"trailing_blank_lines", goodPolicy + "\n\n", "fix-trailing-blank-lines", "the file ends with 2 blank lines after line 4: delete them"},
	{"trailing_blank_line_crlf", strings.ReplaceAll(goodPolicy, "\n", "\r\n") + "\r\n", "fix-trailing-blank-lines", "the file ends with 1 blank line after line 4"},
	{"blank_line_inside", "version: STSv1\n\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n", "fix-blank-line", "line 2 is blank: delete it"},
	{"mode_enforced", "version: STSv1\nmode: enforced\nmx: mx.example.com\nmax_age: 604800\n", "fix-mode", `mode "enforced" is not a mode: write "mode: enforce"`},
	{"mode_capitalised", "version: STSv1\nmode: Testing\nmx: mx.example.com\nmax_age: 604800\n", "fix-mode", `write "mode: testing"`},
	{"mx_trailing_dot", "version: STSv1\nmode: enforce\nmx: mx.example.com.\nmax_age: 604800\n", "fix-mx-trailing-dot", `write "mx: mx.example.com"`},
	{"comment_line", "# MTA-STS policy\n" + goodPolicy, "fix-comment", "line 1 is a comment: delete it"},
	{"comment_after_value", "version: STSv1\nmode: enforce # for now\nmx: mx.example.com\nmax_age: 604800\n", "fix-comment", `write "mode: enforce"`},
	{"yaml_list", "version: STSv1\nmode: enforce\nmx:\n  - mx1.example.com\n  - mx2.example.com\nmax_age: 604800\n", "fix-yaml-list",
		`write one line per value: "mx: mx1.example.com", "mx: mx2.example.com"`},
	{"yaml_item_inline", "version: STSv1\nmode: enforce\nmx: - mx.example.com\nmax_age: 604800\n", "fix-yaml-list", `write "mx: mx.example.com"`},
	{"mx_comma_list", "version: STSv1\nmode: enforce\nmx: mx1.example.com, mx2.example.com\nmax_age: 604800\n", "fix-mx-list", `"mx: mx1.example.com", "mx: mx2.example.com"`},
	{"stray_cr_at_end", "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 604800\r", "fix-stray-cr", "ends with a lone CR"},
	{"cr_line_ends", "version: STSv1\rmode: enforce\rmx: mx.example.com\rmax_age: 604800\r", "fix-cr-line-ends", "lone CR"},
	{"indented", "version: STSv1\n  mode: enforce\nmx: mx.example.com\nmax_age: 604800\n", "fix-indented", `begin it with its key, "mode: enforce"`},
	{"bom", "\ufeff" + goodPolicy, "fix-bom", "byte order mark"},
	{"max_age_unit", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 7d\n", "fix-max-age", `write "max_age: 604800"`},
	{"other", "version: STSv1\nmode: enforce\nmax_age: 604800\n", "fix-syntax", `"mx: host.example.com"`},
}

// TestPolicyHints checks that each common mistake, rejected by the
// parser, gets its fix, and that a valid policy gets none.
func TestPolicyHints(t *testing.T) {
	for _, tc := range mistakes {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := policy.Parse([]byte(tc.body))
			if err == nil {
				t.Fatalf("the parser accepts %q", tc.body)
			}
			hs := policyHints([]byte(tc.body), err)
			found := false
			for _, h := range hs {
				found = found || h.code == tc.code && strings.Contains(h.msg, tc.fix)
			}
			if !found {
				t.Errorf("hints %+v; want %s with %q", hs, tc.code, tc.fix)
			}
		})
	}
	// A file of mistakes gets a bounded number of fixes.
	if hs := policyHints([]byte(strings.Repeat("# x\n", 1000)), policy.ErrBadLine); len(hs) != maxHints {
		t.Errorf("%d hints for 1000 bad lines, want %d", len(hs), maxHints)
	}
	// A valid policy needs no fix.
	if hs := policyHints([]byte(goodPolicy), nil); len(hs) != 0 {
		t.Errorf("hints for a valid policy: %+v", hs)
	}
}

// TestPolicyMistakes serves each mistake from the loopback world and checks
// that the checker's -json output names the fix.
func TestPolicyMistakes(t *testing.T) {
	bin := cmdtest.Build(t, "check")
	w, base := cmdtest.World(t)
	for i, tc := range mistakes[:13] {
		domain := tc.name + ".test"
		domain = strings.ReplaceAll(domain, "_", "-")
		cmdtest.AddDomain(t, w, domain, testserver.Policy{Mode: "enforce", MX: []string{"mx.example.com"}, MaxAge: 604800, ID: "p" + string(rune('a'+i))})
		w.SetPolicyBody(domain, tc.body)
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := cmdtest.Run(t, bin, cmdtest.Args(base, "-no-smtp", "-json", domain)...)
			var rep report
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("%v\n%s%s", err, out, stderr)
			}
			invalid, fixed := false, false
			for _, f := range rep.Findings {
				invalid = invalid || f.Code == "policy-invalid" && f.Result == "sts-policy-invalid"
				fixed = fixed || f.Code == tc.code && strings.Contains(f.Message, tc.fix) && f.Subject == "https://mta-sts."+domain+"/.well-known/mta-sts.txt"
			}
			if code != 1 || !invalid || !fixed {
				t.Errorf("exit %d; want 1, policy-invalid and %s %q in\n%s", code, tc.code, tc.fix, out)
			}
		})
	}
}

// FuzzPolicyHints checks that any policy text, with the parser's error,
// gets hints without a panic, each with a code and a message.
func FuzzPolicyHints(f *testing.F) {
	f.Add([]byte(goodPolicy))
	f.Add([]byte("version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n")) // RFC 8461 section 3.2
	for _, m := range mistakes {
		f.Add([]byte(m.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, err := policy.Parse(body)
		for _, h := range policyHints(body, err) {
			if !strings.HasPrefix(h.code, "fix-") || h.msg == "" || h.line < 0 {
				t.Fatalf("bad hint %+v for %q", h, body)
			}
		}
	})
}

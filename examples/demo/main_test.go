package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBinary builds the demo and runs it as a newcomer would: it must exit
// 0 within 5 s and print one verdict line per MX host, right.
func TestBinary(t *testing.T) {
	bin := cmdtest.Build(t, "demo")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("demo took %v, want under 5 s", d)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}

	rows := map[string][]string{} // "domain mx" → fields of the walk
	cache := map[string]string{}  // domain → line of the cache summary
	inCache := false
	for _, line := range strings.Split(stdout.String(), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "What the resolver holds"):
			inCache = true
		case len(f) < 2 || !strings.HasSuffix(f[0], ".example"):
		case inCache:
			cache[f[0]] = line
		default:
			rows[f[0]+" "+f[1]] = f
		}
	}
	for _, tc := range []struct {
		domain, mx       string
		verdict, tlsrpt  []string // accepted values
		policy, starttls string
	}{
		{"enforce.example", "mx1.enforce.example", []string{"deliver"}, []string{"success"}, "enforce", "verified"},
		{"enforce.example", "mx2.enforce.example", []string{"refuse"}, []string{"certificate-expired"}, "enforce", "failed"},
		{"enforce.example", "mx.attacker.example", []string{"refuse"}, []string{"validation-failure"}, "enforce", "not"},
		{"testing.example", "mx.testing.example", []string{"deliver"}, []string{"certificate-host-mismatch"}, "testing", "accepted"},
		{"testing.example", "mx.attacker.example", []string{"deliver"}, []string{"validation-failure"}, "testing", "accepted"},
		{"none.example", "mx.none.example", []string{"deliver-without-sts"}, []string{"-"}, "none", "opportunistic"},
		{"plain.example", "mx.plain.example", []string{"deliver-without-sts"}, []string{"-"}, "none", "opportunistic"},
		{"broken.example", "mx.broken.example", []string{"deliver-without-sts"}, []string{"sts-webpki-invalid"}, "fetch", "opportunistic"},
		{"changed.example", "mx.old.changed.example", []string{"deliver"}, []string{"success"}, "enforce", "verified"},
		// The new MX fails the cached policy v1: before refusing, the
		// resolver checks the id again, fetches v2 and delivers (RFC 8461
		// section 5.1).
		{"changed.example", "mx.new.changed.example", []string{"deliver"}, []string{"success"}, "enforce", "verified"},
	} {
		f, ok := rows[tc.domain+" "+tc.mx]
		if !ok {
			t.Errorf("no line for %s %s\n%s", tc.domain, tc.mx, stdout.String())
			continue
		}
		line := strings.Join(f, " ")
		if f[2] != tc.policy {
			t.Errorf("policy %q, want %q: %s", f[2], tc.policy, line)
		}
		if !has(f, tc.verdict) || !has(f, tc.tlsrpt) || !strings.Contains(line, tc.starttls) {
			t.Errorf("want verdict %v, TLS-RPT %v, STARTTLS %q: %s", tc.verdict, tc.tlsrpt, tc.starttls, line)
		}
	}
	for domain, want := range map[string]string{
		"enforce.example": "policy in effect", "testing.example": "policy in effect", "none.example": "policy in effect",
		"plain.example": "no _mta-sts record", "broken.example": "sts-webpki-invalid", "changed.example": "policy in effect",
	} {
		if !strings.Contains(cache[domain], want) {
			t.Errorf("cache summary for %s: %q, want %q", domain, cache[domain], want)
		}
	}
}

// has reports whether a field of f is one of want.
func has(f, want []string) bool {
	for _, x := range f {
		for _, w := range want {
			if x == w {
				return true
			}
		}
	}
	return false
}

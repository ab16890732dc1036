package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/examples/internal/clitest"
	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBinary builds the checker and runs it against domains of the
// loopback world, each broken in its own way.
func TestBinary(t *testing.T) {
	bin := cmdtest.Build(t, "check")
	w, base := cmdtest.World(t)

	// good.test does everything right.
	cmdtest.AddDomain(t, w, "good.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.good.test", "mx2.good.test"}, MaxAge: 604800, ID: "g1"})
	w.SetTLSRPT("good.test", "v=TLSRPTv1; rua=mailto:tlsrpt@good.test,https://reports.good.test/tlsrpt")
	// bad.test: an MX outside the policy, an MX with an expired
	// certificate, a policy with an unknown key and a short max_age, a
	// TLS-RPT record with no usable URI.
	cmdtest.AddDomain(t, w, "bad.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.bad.test", "*.old.bad.test"}, MaxAge: 3600, ID: "b1"})
	w.SetPolicyBody("bad.test", "version: STSv1\nmode: enforce\nmx: mx1.bad.test\nmx: *.old.bad.test\nmax_age: 3600\nreport: weekly\n")
	clitest.SMTPHost(t, w, "mx.other.test")
	w.SetMX("bad.test", "mx1.bad.test", "mx.other.test")
	w.Fault("mx1.bad.test", testserver.CertExpired)
	w.SetTLSRPT("bad.test", "v=TLSRPTv1; rua=ftp://reports.bad.test/")
	// starttls.test under testing: the MX offers no STARTTLS.
	cmdtest.AddDomain(t, w, "starttls.test", testserver.Policy{Mode: "testing", MX: []string{"mx.starttls.test"}, MaxAge: 86400, ID: "s1"})
	w.Fault("mx.starttls.test", testserver.NoSTARTTLS)
	// webpki.test: the policy host's certificate is untrusted.
	cmdtest.AddDomain(t, w, "webpki.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.webpki.test"}, MaxAge: 86400, ID: "w1"})
	w.Fault("mta-sts.webpki.test", testserver.CertUntrusted)
	// plain.test publishes no MTA-STS; its MX has a certificate for
	// another name.
	clitest.SMTPHost(t, w, "mx.plain.test")
	w.SetMX("plain.test", "mx.plain.test")
	w.Fault("mx.plain.test", testserver.CertWrongHost)

	base = append(base, "-timeout", "10s")
	base = append(base, cmdtest.SMTPFlags(w, "mx1.good.test", "mx1.bad.test", "mx.other.test", "mx.starttls.test", "mx.webpki.test", "mx.plain.test")...)
	// mx2.good.test is reached through DNS, with only its port given.
	_, port, _ := net.SplitHostPort(w.SMTPAddr("mx2.good.test"))
	base = append(base, "-smtp-addr", "mx2.good.test=:"+port)

	run := func(t *testing.T, args ...string) (int, []byte) {
		code, stdout, stderr := cmdtest.Run(t, bin, cmdtest.Args(base, args...)...)
		if code == 0 && len(stderr) > 0 {
			t.Errorf("stderr: %s", stderr)
		}
		return code, stdout
	}

	type want struct {
		check, severity, subject, result, message string // message: a substring
	}
	for _, tc := range []struct {
		domain string
		code   int
		want   []want
		errors int // -1: any number
	}{
		{"good.test", 0, []want{
			{"record", "info", "_mta-sts.good.test", "", "v=STSv1; id=g1"},
			{"policy-host", "info", "mta-sts.good.test", "", "certificate valid for mta-sts.good.test"},
			{"policy", "info", "https://mta-sts.good.test/.well-known/mta-sts.txt", "", "mode enforce, max_age 604800 (7d)"},
			{"mx", "info", "mx1.good.test", "", "preference 10, STARTTLS with TLS 1."},
			{"mx", "info", "mx2.good.test", "", "preference 20, STARTTLS"},
			{"tlsrpt", "info", "_smtp._tls.good.test", "", "reports go to mailto:tlsrpt@good.test, https://reports.good.test/tlsrpt"},
		}, 0},
		{"bad.test", 1, []want{
			{"policy", "warning", "", "", `"report": unknown key`},
			{"policy", "warning", "", "", "max_age 3600 is under a day"},
			{"mx", "error", "mx1.bad.test", "certificate-expired", "certificate expired"},
			{"mx", "error", "mx.other.test", "validation-failure", "matches no mx pattern"},
			{"mx", "info", "*.old.bad.test", "", "matches no MX host"},
			{"tlsrpt", "warning", "_smtp._tls.bad.test", "", "only mailto: and https:"},
			{"tlsrpt", "error", "_smtp._tls.bad.test", "", "no usable rua URI"},
			{"mx", "error", "bad.test", "", "senders will defer all your mail"},
		}, 4},
		{"starttls.test", 1, []want{
			{"policy", "info", "", "", "mode testing"},
			{"mx", "error", "mx.starttls.test", "starttls-not-supported", "STARTTLS"},
			{"tlsrpt", "warning", "_smtp._tls.starttls.test", "", "no v=TLSRPTv1 record"},
		}, 1},
		{"webpki.test", 1, []want{
			{"policy-host", "error", "mta-sts.webpki.test", "sts-webpki-invalid", "certificate not trusted"},
			{"policy", "error", "", "sts-webpki-invalid", "as if there were no policy"},
		}, 2},
		{"plain.test", 1, []want{
			{"record", "error", "_mta-sts.plain.test", "", "does not publish MTA-STS"},
			{"mx", "warning", "mx.plain.test", "certificate-host-mismatch", "would fail under an MTA-STS policy"},
		}, 1},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			code, out := run(t, "-json", tc.domain)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, out)
			}
			var rep report
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if rep.Domain != tc.domain || (tc.errors >= 0 && rep.Errors != tc.errors) {
				t.Errorf("domain %q, %d errors; want %q, %d\n%s", rep.Domain, rep.Errors, tc.domain, tc.errors, out)
			}
			for _, w := range tc.want {
				found := false
				for _, f := range rep.Findings {
					found = found || f.Check == w.check && f.Severity == w.severity && (w.subject == "" || f.Subject == w.subject) &&
						string(f.Result) == w.result && strings.Contains(f.Message, w.message)
				}
				if !found {
					t.Errorf("no finding %+v in\n%s", w, out)
				}
			}
			// The text output says the same, with the same status.
			hcode, hout := run(t, tc.domain)
			if hcode != code || !bytes.Contains(hout, []byte("MTA-STS check of "+tc.domain)) ||
				!bytes.Contains(hout, []byte(plural(rep.Errors, "error")+", "+plural(rep.Warnings, "warning"))) {
				t.Errorf("text output, exit %d:\n%s", hcode, hout)
			}
			t.Logf("\n%s", hout)
		})
	}

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{{}, {"a.test", "b.test"}, {"-nosuchflag", "a.test"}, {"-smtp-addr", "mx.test", "a.test"},
			{"-smtp-addr", "mx.test=host.test:25", "a.test"}, {"-timeout", "0s", "a.test"}, {"not a domain"}} {
			err := exec.Command(bin, args...).Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 64 {
				t.Errorf("%q: %v, want exit 64", args, err)
			}
		}
	})
}

// TestLintTLSRPT checks the TLS-RPT record syntax rules.
func TestLintTLSRPT(t *testing.T) {
	for _, tc := range []struct {
		name, rec string
		sev       string // the worst severity expected; "info" for a clean record
	}{
		{"mailto", "v=TLSRPTv1; rua=mailto:r@example.test", sevInfo},
		{"https_and_mailto", "v=TLSRPTv1;rua=https://r.example.test/x , mailto:r@example.test;", sevInfo},
		{"two_rua", "v=TLSRPTv1; rua=mailto:a@example.test; rua=mailto:b@example.test", sevInfo},
		{"extension", "v=TLSRPTv1; rua=mailto:a@example.test; ext=1", sevWarning},
		{"other_scheme_too", "v=TLSRPTv1; rua=mailto:a@example.test,ftp://x.test/", sevWarning},
		{"no_rua", "v=TLSRPTv1;", sevError},
		{"only_other_scheme", "v=TLSRPTv1; rua=ftp://x.test/", sevError},
		{"mailto_no_at", "v=TLSRPTv1; rua=mailto:reports", sevError},
		{"https_no_host", "v=TLSRPTv1; rua=https:///x", sevError},
		{"no_scheme", "v=TLSRPTv1; rua=reports@example.test", sevError},
		{"empty_field", "v=TLSRPTv1;; rua=mailto:a@example.test", sevError},
		{"not_key_value", "v=TLSRPTv1; rua=mailto:a@example.test; junk", sevError},
		{"bad_ext_name", "v=TLSRPTv1; rua=mailto:a@example.test; _x=1", sevError},
		{"version_not_first", "rua=mailto:a@example.test; v=TLSRPTv1", sevError},
		{"address_literal_too", "v=TLSRPTv1; rua=mailto:a@[192.0.2.1],mailto:r@example.test", sevWarning},
		{"only_address_literal", "v=TLSRPTv1; rua=mailto:a@[192.0.2.1]", sevError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			worst := sevInfo
			for _, n := range lintTLSRPT(tc.rec) {
				if n.sev == sevError || n.sev == sevWarning && worst == sevInfo {
					worst = n.sev
				}
			}
			if worst != tc.sev {
				t.Errorf("lintTLSRPT(%q) = %+v, worst %s, want %s", tc.rec, lintTLSRPT(tc.rec), worst, tc.sev)
			}
			if strings.Contains(tc.name, "address_literal") && !slices.ContainsFunc(lintTLSRPT(tc.rec), func(n note) bool { return n.code == "tlsrpt-uri-unusable" }) {
				t.Errorf("lintTLSRPT(%q) = %+v, want tlsrpt-uri-unusable", tc.rec, lintTLSRPT(tc.rec))
			}
		})
	}
	// The strings the checker takes for a record, as senders do: RFC 8460
	// section 3 discards those that do not begin with "v=TLSRPTv1;".
	for s, want := range map[string]bool{"v=TLSRPTv1": false, "v=TLSRPTv1;rua=x": true, "v=TLSRPTv1 ;": true, "v=TLSRPTv10": false, "v=STSv1": false} {
		if tlsrpt.IsTLSRPT(s) != want {
			t.Errorf("tlsrpt.IsTLSRPT(%q) = %v", s, !want)
		}
	}
}

package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestFindings runs the built checker against the loopback world for the
// exit statuses, the stable codes and dates of -json, -no-smtp, the summary
// when every MX host fails, NXDOMAIN, and the fixes of common policy
// mistakes.
func TestFindings(t *testing.T) {
	bin := cmdtest.Build(t, "check")
	w, base := cmdtest.World(t)
	add := func(d string, p testserver.Policy) {
		cmdtest.AddDomain(t, w, d, p)
	}
	add("good.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.good.test"}, MaxAge: 604800, ID: "g1"})
	w.SetTLSRPT("good.test", "v=TLSRPTv1; rua=mailto:tlsrpt@good.test")
	add("allfail.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.allfail.test", "mx2.allfail.test"}, MaxAge: 604800, ID: "a1"})
	w.Fault("mx1.allfail.test", testserver.CertExpired)
	w.Fault("mx2.allfail.test", testserver.NoSTARTTLS)
	add("testfail.test", testserver.Policy{Mode: "testing", MX: []string{"mx.testfail.test"}, MaxAge: 604800, ID: "t1"})
	w.Fault("mx.testfail.test", testserver.CertWrongHost)
	// An MX target with a dot inside a label (mx\.evil...) is no host
	// name: next to a good MX, and alone.
	add("badname.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.badname.test"}, MaxAge: 604800, ID: "b1"})
	if err := w.AddRecords(`badname.test. MX 20 mx\.evil.badname.test.`); err != nil {
		t.Fatal(err)
	}
	add("onlybadname.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.onlybadname.test"}, MaxAge: 604800, ID: "o1"})
	w.SetMX("onlybadname.test", `mx\.evil.onlybadname.test`)
	base = append(base, "-timeout", "10s")
	base = append(base, cmdtest.SMTPFlags(w, "mx.good.test", "mx.badname.test", "mx1.allfail.test", "mx2.allfail.test", "mx.testfail.test")...)

	run := func(t *testing.T, args ...string) (int, report, string) {
		t.Helper()
		code, out, stderr := cmdtest.Run(t, bin, cmdtest.Args(base, append([]string{"-json"}, args...)...)...)
		var rep report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("%v\n%s\n%s", err, out, stderr)
		}
		for _, f := range rep.Findings {
			if f.Code == "" || f.Check == "" || f.Severity == "" || f.Subject == "" {
				t.Errorf("finding without code, check, severity or subject: %+v", f)
			}
		}
		_, text, _ := cmdtest.Run(t, bin, cmdtest.Args(base, args...)...)
		return code, rep, string(text)
	}
	find := func(rep report, code string) *finding {
		for i := range rep.Findings {
			if rep.Findings[i].Code == code {
				return &rep.Findings[i]
			}
		}
		return nil
	}

	t.Run("exit_0_with_dates", func(t *testing.T) {
		code, rep, _ := run(t, "good.test")
		if code != 0 {
			t.Fatalf("exit %d, want 0: %+v", code, rep)
		}
		for _, c := range []string{"record-found", "cert-valid", "policy-found", "mx-ok", "tlsrpt-found"} {
			f := find(rep, c)
			if f == nil {
				t.Errorf("no finding %s", c)
				continue
			}
			wantDate := c == "cert-valid" || c == "policy-found" || c == "mx-ok"
			if f.Expires.IsZero() == wantDate {
				t.Errorf("%s: expires %v", c, f.Expires)
			}
		}
		if f := find(rep, "policy-found"); f != nil && f.Subject != "https://mta-sts.good.test/.well-known/mta-sts.txt" {
			t.Errorf("policy-found subject %q", f.Subject)
		}
		if f := find(rep, "policy-found"); f != nil {
			if d := time.Until(f.Expires) - 604800*time.Second; d > time.Minute || d < -time.Minute {
				t.Errorf("policy expires %v, want in max_age", f.Expires)
			}
		}
		if f := find(rep, "mx-ok"); f != nil && time.Until(f.Expires) < 24*time.Hour {
			t.Errorf("mx certificate expires %v", f.Expires)
		}
	})

	t.Run("all_mx_fail_under_enforce", func(t *testing.T) {
		code, rep, text := run(t, "allfail.test")
		f := find(rep, "mx-all-fail")
		if code != 1 || f == nil || f.Severity != "error" || f.Subject != "allfail.test" || find(rep, "mx-cert-invalid") == nil || find(rep, "mx-no-starttls") == nil {
			t.Fatalf("exit %d, findings %+v", code, rep.Findings)
		}
		if cert := find(rep, "mx-cert-invalid"); cert.Expires.IsZero() || cert.Expires.After(time.Now()) {
			t.Errorf("expired certificate: expires %v, want a past date", cert.Expires)
		}
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if last := lines[len(lines)-1]; !strings.Contains(last, "senders will defer all your mail") {
			t.Errorf("the text output does not end with the summary:\n%s", text)
		}
	})

	t.Run("all_mx_fail_under_testing", func(t *testing.T) {
		code, rep, _ := run(t, "testfail.test")
		if f := find(rep, "mx-all-fail-testing"); code != 1 || f == nil || f.Severity != "warning" || find(rep, "mx-all-fail") != nil {
			t.Fatalf("exit %d, findings %+v", code, rep.Findings)
		}
	})

	t.Run("no_smtp", func(t *testing.T) {
		// Without the SMTP dialogues, allfail.test's MX hosts match the
		// policy, and nothing more is known of them.
		code, rep, _ := run(t, "-no-smtp", "allfail.test")
		if code != 0 || find(rep, "mx-smtp-skipped") == nil || find(rep, "mx-ok") != nil || find(rep, "mx-all-fail") != nil {
			t.Fatalf("exit %d, findings %+v", code, rep.Findings)
		}
	})

	t.Run("mx_bad_name", func(t *testing.T) {
		code, rep, text := run(t, "badname.test")
		f := find(rep, "mx-bad-name")
		if code != 0 || f == nil || f.Severity != "warning" || !strings.Contains(f.Message, `mx\\.evil.badname.test`) {
			t.Fatalf("exit %d, findings %+v", code, rep.Findings)
		}
		if ok := find(rep, "mx-ok"); ok == nil || ok.Subject != "mx.badname.test" || find(rep, "mx-lookup-failed") != nil {
			t.Errorf("the good MX was not checked: %+v", rep.Findings)
		}
		if !strings.Contains(text, "not a host name") {
			t.Errorf("text does not name the bad MX:\n%s", text)
		}

		code, rep, _ = run(t, "-no-smtp", "onlybadname.test")
		f = find(rep, "mx-bad-name")
		if code != 1 || f == nil || f.Severity != "error" || find(rep, "mx-implicit") != nil || find(rep, "mx-lookup-failed") != nil {
			t.Fatalf("only a bad name: exit %d, findings %+v", code, rep.Findings)
		}
	})

	t.Run("nxdomain", func(t *testing.T) {
		code, rep, text := run(t, "nowhere.test")
		f := find(rep, "domain-not-found")
		if code != 1 || f == nil || !strings.Contains(f.Message, "does not exist") || len(rep.Findings) != 1 {
			t.Fatalf("exit %d, findings %+v", code, rep.Findings)
		}
		if strings.Contains(text, "implicit MX") {
			t.Errorf("text speaks of an implicit MX:\n%s", text)
		}
	})

	t.Run("exit_2_dns_unreachable", func(t *testing.T) {
		// A loopback UDP port with nobody behind it: the queries are
		// refused at once.
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := pc.LocalAddr().String()
		pc.Close()
		args := append([]string{}, base...)
		for i := range args {
			if args[i] == "-dns" {
				args[i+1] = dead
			}
		}
		start := time.Now()
		code, out, _ := cmdtest.Run(t, bin, append(args, "-json", "good.test")...)
		var rep report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if code != 2 || len(rep.Findings) != 1 || rep.Findings[0].Code != "dns-unreachable" {
			t.Fatalf("exit %d, findings %+v", code, rep.Findings)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

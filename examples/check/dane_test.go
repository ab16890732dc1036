package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/examples/internal/clitest"
	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestDANE runs the built checker with -dane against a loopback world whose
// DNS server plays a validating resolver: a signed domain with an MX host
// per DANE state, and an unsigned one. Without -dane the checker says
// nothing of DANE.
func TestDANE(t *testing.T) {
	bin := cmdtest.Build(t, "check")
	w, base := cmdtest.World(t)
	w.SetSecure("dane.test", true)
	listed := []string{"ee.dane.test", "wrong.dane.test", "pkix.dane.test", "bogus.dane.test", "ta.dane.test",
		"tahost.dane.test", "notlsa.dane.test", "nostarttls.dane.test"}
	cmdtest.AddDomain(t, w, "dane.test", testserver.Policy{Mode: "enforce", MX: listed, MaxAge: 604800, ID: "d1"})
	// unlisted.dane.test is an MX host the policy does not name.
	clitest.SMTPHost(t, w, "unlisted.dane.test")
	w.SetMX("dane.test", append(listed, "unlisted.dane.test")...)
	ee := func(host string) string {
		c, err := w.Certificate(host, 0)
		if err != nil {
			t.Fatal(err)
		}
		spki := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
		return hex.EncodeToString(spki[:])
	}
	ta := "2 0 0 " + hex.EncodeToString(w.CA().Certificate().Raw)
	for host, rec := range map[string]string{
		"ee.dane.test":         "3 1 1 " + ee("ee.dane.test"),
		"wrong.dane.test":      "3 1 1 " + strings.Repeat("ab", 32),
		"pkix.dane.test":       "1 1 1 " + ee("pkix.dane.test"),
		"bogus.dane.test":      "3 1 1 " + ee("bogus.dane.test"),
		"ta.dane.test":         ta,
		"tahost.dane.test":     ta,
		"nostarttls.dane.test": "3 1 1 " + ee("nostarttls.dane.test"),
		"unlisted.dane.test":   "3 1 1 " + ee("unlisted.dane.test"),
	} {
		if err := w.SetTLSA(host, rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Fault("_25._tcp.bogus.dane.test", testserver.Bogus(0))
	w.Fault("tahost.dane.test", testserver.CertWrongHost)
	w.Fault("nostarttls.dane.test", testserver.NoSTARTTLS)
	w.SetTXT("_25._tcp.notlsa.dane.test", "not a tlsa record") // the name exists: a secure NODATA
	// insecure.test publishes TLSA records in an unsigned zone.
	cmdtest.AddDomain(t, w, "insecure.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.insecure.test"}, MaxAge: 604800, ID: "i1"})
	if err := w.SetTLSA("mx.insecure.test", "3 1 1 "+ee("mx.insecure.test")); err != nil {
		t.Fatal(err)
	}
	// allbogus.test: its one MX host's TLSA lookup is bogus.
	w.SetSecure("allbogus.test", true)
	cmdtest.AddDomain(t, w, "allbogus.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.allbogus.test"}, MaxAge: 604800, ID: "a1"})
	if err := w.SetTLSA("mx.allbogus.test", "3 1 1 "+ee("mx.allbogus.test")); err != nil {
		t.Fatal(err)
	}
	w.Fault("_25._tcp.mx.allbogus.test", testserver.Bogus(0))
	base = append(base, "-timeout", "10s")
	base = append(base, cmdtest.SMTPFlags(w, append(listed, "unlisted.dane.test", "mx.insecure.test", "mx.allbogus.test")...)...)
	run := func(t *testing.T, args ...string) (int, report) {
		t.Helper()
		code, out, stderr := cmdtest.Run(t, bin, cmdtest.Args(base, args...)...)
		var rep report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("%v\n%s\n%s", err, out, stderr)
		}
		return code, rep
	}
	// has reports whether rep has a finding of code about subject with
	// severity, result and a message that contains msg.
	has := func(rep report, code, subject, sev, result, msg string) bool {
		for _, f := range rep.Findings {
			if f.Code == code && f.Subject == subject && f.Severity == sev && string(f.Result) == result && strings.Contains(f.Message, msg) {
				return true
			}
		}
		return false
	}
	type want struct{ code, subject, sev, result, msg string }

	t.Run("signed", func(t *testing.T) {
		code, rep := run(t, "-dane", "-json", "dane.test")
		if code != exitErrors {
			t.Errorf("exit %d, want %d", code, exitErrors)
		}
		for _, w := range []want{
			{"dane-secure", "ee.dane.test", sevInfo, "", "3 1 1 " + strings.ToUpper(ee("ee.dane.test"))},
			{"dane-ok", "ee.dane.test", sevInfo, "", "matches"},
			{"dane-secure", "wrong.dane.test", sevInfo, "", "_25._tcp.wrong.dane.test"},
			{"dane-mismatch", "wrong.dane.test", sevError, "tlsa-invalid", "will not deliver"},
			{"dane-sts-conflict", "wrong.dane.test", sevInfo, "", "follow DANE and refuse"},
			{"dane-unusable", "pkix.dane.test", sevWarning, "tlsa-invalid", `"1 1 1 `},
			{"dane-unusable", "pkix.dane.test", sevWarning, "tlsa-invalid", "pkix usage unusable for smtp"},
			{"dane-bogus", "bogus.dane.test", sevError, "dnssec-invalid", "DNSSEC Bogus"},
			{"dane-sts-conflict", "bogus.dane.test", sevInfo, "", "skip it"},
			{"dane-secure", "ta.dane.test", sevInfo, "", "2 0 0 "},
			{"dane-ok", "ta.dane.test", sevInfo, "", ""},
			// DANE-TA checks the leaf's names: the anchor matches, the name does not.
			{"dane-mismatch", "tahost.dane.test", sevError, "certificate-host-mismatch", ""},
			{"mx-cert-invalid", "tahost.dane.test", sevError, "certificate-host-mismatch", ""},
			{"dane-none", "notlsa.dane.test", sevInfo, "", "no TLSA records"},
			{"mx-no-starttls", "nostarttls.dane.test", sevError, "starttls-not-supported", ""},
			{"dane-no-tls", "nostarttls.dane.test", sevError, "", "TLS mandatory"},
			{"mx-mismatch", "unlisted.dane.test", sevError, "validation-failure", ""},
			{"dane-ok", "unlisted.dane.test", sevInfo, "", ""},
			{"dane-sts-conflict", "unlisted.dane.test", sevInfo, "", "follow DANE and deliver"},
		} {
			if !has(rep, w.code, w.subject, w.sev, w.result, w.msg) {
				t.Errorf("no finding %+v", w)
			}
		}
		for _, f := range rep.Findings {
			switch {
			case f.Code == "dane-insecure-mx":
				t.Errorf("signed MX records reported unsigned: %+v", f)
			case f.Code == "dane-sts-conflict" && (f.Subject == "ee.dane.test" || f.Subject == "tahost.dane.test"):
				t.Errorf("conflict where DANE and MTA-STS agree: %+v", f)
			case f.Code == "dane-mismatch" && f.Subject == "unlisted.dane.test":
				t.Errorf("%+v", f)
			}
			if strings.HasPrefix(f.Code, "dane-") && f.Check != "dane" {
				t.Errorf("dane finding under check %q", f.Check)
			}
		}
		if t.Failed() {
			out, _ := json.MarshalIndent(rep, "", "  ")
			t.Logf("%s", out)
		}
		// The text output says the same, with the same status.
		tcode, text, _ := cmdtest.Run(t, bin, cmdtest.Args(base, "-dane", "dane.test")...)
		if tcode != code || !strings.Contains(string(text), "STARTTLS certificate: certificate not valid for mx host: senders that validate will not deliver") {
			t.Errorf("text output, exit %d:\n%s", tcode, text)
		}
		t.Logf("\n%s", text)
	})

	t.Run("unsigned", func(t *testing.T) {
		code, rep := run(t, "-dane", "-json", "insecure.test")
		if code != exitOK || !has(rep, "dane-insecure-mx", "insecure.test", sevInfo, "", "DANE does not apply") {
			t.Errorf("exit %d: %+v", code, rep.Findings)
		}
		for _, f := range rep.Findings {
			if strings.HasPrefix(f.Code, "dane-") && f.Code != "dane-insecure-mx" {
				t.Errorf("DANE checked under unsigned MX records: %+v", f)
			}
		}
	})

	t.Run("all-fail", func(t *testing.T) {
		code, rep := run(t, "-dane", "-json", "allbogus.test")
		if code != exitErrors || !has(rep, "dane-all-fail", "allbogus.test", sevError, "", "senders that validate DNSSEC will defer all your mail") ||
			!has(rep, "mx-ok", "mx.allbogus.test", sevInfo, "", "") {
			t.Errorf("exit %d: %+v", code, rep.Findings)
		}
		// Not where a host passes DANE or DANE does not apply to it.
		_, rep = run(t, "-dane", "-json", "dane.test")
		if has(rep, "dane-all-fail", "dane.test", sevError, "", "") {
			t.Errorf("dane-all-fail for dane.test")
		}
	})

	t.Run("no-smtp", func(t *testing.T) {
		_, rep := run(t, "-dane", "-no-smtp", "-json", "dane.test")
		if !has(rep, "dane-secure", "wrong.dane.test", sevInfo, "", "") || !has(rep, "dane-bogus", "bogus.dane.test", sevError, "dnssec-invalid", "") {
			t.Errorf("records not reported: %+v", rep.Findings)
		}
		for _, f := range rep.Findings {
			if f.Code == "dane-ok" || f.Code == "dane-mismatch" || f.Code == "dane-no-tls" {
				t.Errorf("certificate checked without SMTP: %+v", f)
			}
		}
	})

	// Off by default: no DANE finding, and no DNSSEC query for the TLSA
	// records.
	t.Run("off", func(t *testing.T) {
		w.ResetQueries()
		_, rep := run(t, "-json", "dane.test")
		for _, f := range rep.Findings {
			if f.Check == "dane" || strings.HasPrefix(f.Code, "dane-") {
				t.Errorf("DANE finding without -dane: %+v", f)
			}
		}
		if n := w.Queries("_25._tcp.ee.dane.test", 52); n != 0 {
			t.Errorf("%d TLSA queries without -dane", n)
		}
	})
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/textproto"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/clitest"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

// TestDANETLSRPT runs the relay with -dane over a signed zone: dane.test
// has an enforce MTA-STS policy, but its MX host has usable TLSA records,
// so DANE governs and the session counts under policy-type tlsa for the
// MX host (the TLSA base domain), with the records as policy-string, and
// nothing for dane.test (RFC 8460 section 1.1, RFC 8461 section 2);
// bogus.test's MX host has a bogus TLSA lookup: refused, dnssec-invalid.
func TestDANETLSRPT(t *testing.T) {
	bin := build(t)
	w := testserver.Start(t)
	w.SetSecure("test", true)
	const mx, bogusMX = "mx.dane.test", "mx.bogus.test"
	var tlsa string // mx's record
	for _, h := range []string{mx, bogusMX} {
		clitest.SMTPHost(t, w, h)
		cert, err := w.Certificate(h, 0)
		if err != nil {
			t.Fatal(err)
		}
		spki := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
		rec := "3 1 1 " + strings.ToUpper(hex.EncodeToString(spki[:]))
		if err := w.SetTLSA(h, rec); err != nil {
			t.Fatal(err)
		}
		if h == mx {
			tlsa = rec
		}
	}
	w.Fault("_25._tcp."+bogusMX, testserver.Bogus(0))
	if _, err := w.AddDomain("dane.test", testserver.Policy{Mode: "enforce", MX: []string{mx}, MaxAge: 86400, ID: "d1"}); err != nil {
		t.Fatal(err)
	}
	w.SetMX("dane.test", mx)
	w.SetMX("bogus.test", bogusMX)
	for _, d := range []string{"dane.test", "bogus.test", mx, bogusMX} {
		w.SetTLSRPT(d, "v=TLSRPTv1; rua=https://reports.example/"+d)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := w.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tlsrpt")
	p := start(t, bin, "-listen", "127.0.0.1:0", "-dns", w.DNSAddr(), "-ca", ca, "-https-port", strconv.Itoa(w.HTTPSPort()),
		"-timeout", "10s", "-dane", "-tlsrpt", file, "-smtp-addr", mx+"="+w.SMTPAddr(mx), "-smtp-addr", bogusMX+"="+w.SMTPAddr(bogusMX))
	if err := send(t, p.addr, "rcpt@dane.test", "dane"); err != nil {
		t.Fatalf("dane.test: %v\n%s", err, p.log())
	}
	var te *textproto.Error
	if err := send(t, p.addr, "rcpt@bogus.test", "bogus"); !errors.As(err, &te) || te.Code != 451 {
		t.Fatalf("bogus.test: %v; want 451\n%s", err, p.log())
	}

	var got map[string]tlsrpt.PolicyReport
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = reports(t, file)
		if _, ok := got[bogusMX]; ok || time.Now().After(deadline) {
			break
		}
	}
	pr, ok := got[mx]
	if !ok || pr.Policy.Type != tlsrpt.PolicyTLSA || !slices.Equal(pr.Policy.PolicyString, []string{tlsa}) ||
		pr.Policy.Domain != mx || pr.Summary.TotalSuccessful != 1 || pr.Summary.TotalFailure != 0 {
		t.Errorf("%s: %+v (found %v); want tlsa [%s], 1 successful", mx, pr, ok, tlsa)
	}
	pr, ok = got[bogusMX]
	if !ok || pr.Policy.Type != tlsrpt.PolicyTLSA || pr.Summary.TotalFailure != 1 || len(pr.FailureDetails) != 1 ||
		pr.FailureDetails[0].ResultType != "dnssec-invalid" {
		t.Errorf("%s: %+v (found %v); want tlsa, 1 dnssec-invalid", bogusMX, pr, ok)
	}
	if _, ok := got["dane.test"]; ok {
		t.Errorf("a report for dane.test, whose sessions DANE governed: %v", got)
	}
	t.Logf("relay logs:\n%s", p.log())
}

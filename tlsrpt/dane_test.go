package tlsrpt_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/smtp"
	"slices"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

// TestDANESessionReportsTLSA follows DANE-governed sessions from a real
// resolver Decision (DNSSEC trusted, a signed zone with TLSA records, and
// an MTA-STS policy of mode enforce for the recipient domain that DANE
// overrides) to the JSON of the Recorder's report: policy-type tlsa, the
// TLSA records as policy-string, and the TLSA base domain (the MX host),
// not the recipient domain, as policy-domain (RFC 8460 sections 1.1, 4.4).
func TestDANESessionReportsTLSA(t *testing.T) {
	w := testserver.Start(t)
	w.SetSecure("test", true)
	const good, bogus = "mx.example.test", "bogus.example.test"
	var ee string
	for _, h := range []string{good, bogus} {
		if _, err := w.AddSMTPHost(h); err != nil {
			t.Fatal(err)
		}
		w.SetAddrs(h, w.IP())
		cert, err := w.Certificate(h, 0)
		if err != nil {
			t.Fatal(err)
		}
		spki := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
		if h == good {
			ee = "3 1 1 " + hex.EncodeToString(spki[:])
		}
		if err := w.SetTLSA(h, "3 1 1 "+hex.EncodeToString(spki[:])); err != nil {
			t.Fatal(err)
		}
	}
	w.Fault("_25._tcp."+bogus, testserver.Bogus(0))
	if _, err := w.AddDomain("example.test", testserver.Policy{Mode: "enforce", MX: []string{"*.example.test"}, MaxAge: 86400}); err != nil {
		t.Fatal(err)
	}
	w.SetMX("example.test", good, bogus)

	r, err := resolver.New(resolver.Options{
		DNS: []string{w.DNSAddr()}, DNSTimeout: 2 * time.Second, DNSSEC: true,
		RootCAs: w.RootCAs(), HTTPSPort: w.HTTPSPort(), FetchTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	day := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := day
	rec := tlsrpt.NewRecorder(tlsrpt.Options{Clock: func() time.Time { return now }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The secure host: a real STARTTLS handshake, recorded by the hook.
	d, err := r.Check(ctx, "example.test", good)
	if err != nil {
		t.Fatal(err)
	}
	if d.PolicyType() != "tlsa" || d.DANE == nil {
		t.Fatalf("Check(%s) = %v, policy type %s", good, d, d.PolicyType())
	}
	if err := starttls(ctx, w, good, d.TLSConfigReport(&tls.Config{InsecureSkipVerify: true}, tlsrpt.HookDANE(rec, d.MX, d.DANE))); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	// The bogus host: refused, no connection; its verdict is recorded.
	d, err = r.Check(ctx, "example.test", bogus)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != resolver.Refuse || d.PolicyType() != "tlsa" {
		t.Fatalf("Check(%s) = %v, policy type %s", bogus, d, d.PolicyType())
	}
	if err := rec.Record(tlsrpt.SessionDANE(d.MX, d.DANE, d.Result, nil)); err != nil {
		t.Fatalf("Record(dnssec-invalid): %v", err)
	}

	now = day.Add(24 * time.Hour) // the day is over
	reps, err := rec.Reports(day, tlsrpt.ReportOptions{OrganizationName: "Company-X", ContactInfo: "tlsrpt@company-x.example"})
	if err != nil {
		t.Fatal(err)
	}
	type policyJSON struct {
		Policy struct {
			Type   string   `json:"policy-type"`
			String []string `json:"policy-string"`
			Domain string   `json:"policy-domain"`
		} `json:"policy"`
		Summary struct {
			Successful int `json:"total-successful-session-count"`
			Failure    int `json:"total-failure-session-count"`
		} `json:"summary"`
		Failures []struct {
			Result string `json:"result-type"`
			MX     string `json:"receiving-mx-hostname"`
		} `json:"failure-details"`
	}
	got := map[string]policyJSON{}
	for _, rep := range reps {
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Policies []policyJSON `json:"policies"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		for _, p := range v.Policies {
			got[p.Policy.Domain] = p
		}
	}
	if len(got) != 2 {
		t.Fatalf("policies %+v; want one for each MX host", got)
	}
	g := got[good]
	if g.Policy.Type != "tlsa" || !slices.Equal(g.Policy.String, []string{canonHex(ee)}) ||
		g.Summary.Successful != 1 || g.Summary.Failure != 0 {
		t.Errorf("%s: %+v; want tlsa [%s], 1 success", good, g, canonHex(ee))
	}
	b := got[bogus]
	if b.Policy.Type != "tlsa" || len(b.Policy.String) != 0 || b.Summary.Failure != 1 ||
		len(b.Failures) != 1 || b.Failures[0].Result != "dnssec-invalid" || b.Failures[0].MX != bogus {
		t.Errorf("%s: %+v; want tlsa, 1 dnssec-invalid failure", bogus, b)
	}
}

// canonHex is a TLSA record's presentation form with the hex in upper case.
func canonHex(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// starttls runs EHLO and STARTTLS against host's SMTP server with cfg.
func starttls(ctx context.Context, w *testserver.World, host string, cfg *tls.Config) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", w.SMTPAddr(host))
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	return c.StartTLS(cfg)
}

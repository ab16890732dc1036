package testserver

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestSecureZones: the AD bit answers only queries that ask for DNSSEC,
// about names of a secure zone (the most specific SetSecure wins), and
// Bogus answers SERVFAIL with its Extended DNS Error.
func TestSecureZones(t *testing.T) {
	w := Start(t)
	w.SetSecure("signed.test", true)
	w.SetSecure("child.signed.test", false)
	for _, n := range []string{"a.signed.test", "b.child.signed.test", "other.test"} {
		w.SetTXT(n, "x")
	}
	if err := w.SetTLSA("mx.signed.test", "3 1 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTLSA("mx.signed.test", "not a record"); err == nil {
		t.Error("SetTLSA accepted a bad record")
	}
	w.Fault("bogus.signed.test", Bogus(dns.ExtendedErrorCodeSignatureExpired))
	c := dns.Client{Timeout: 2 * time.Second}
	ask := func(name string, qtype uint16, do, ad bool) *dns.Msg {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), qtype)
		q.SetEdns0(1232, do)
		q.AuthenticatedData = ad
		m, _, err := c.Exchange(q, w.DNSAddr())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		qtype  uint16
		do, ad bool
		want   bool
	}{
		{"a.signed.test", dns.TypeTXT, true, false, true},
		{"a.signed.test", dns.TypeTXT, false, true, true},
		{"a.signed.test", dns.TypeTXT, false, false, false},
		{"b.child.signed.test", dns.TypeTXT, true, true, false},
		{"other.test", dns.TypeTXT, true, true, false},
		{"nx.signed.test", dns.TypeTXT, true, true, true},
		{"_25._tcp.mx.signed.test", dns.TypeTLSA, true, true, true},
	} {
		if m := ask(tc.name, tc.qtype, tc.do, tc.ad); m.AuthenticatedData != tc.want {
			t.Errorf("%s DO=%v AD=%v: AD %v; want %v", tc.name, tc.do, tc.ad, m.AuthenticatedData, tc.want)
		}
	}
	m := ask("bogus.signed.test", dns.TypeA, true, true)
	var code uint16
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				code = e.InfoCode
			}
		}
	}
	if m.Rcode != dns.RcodeServerFailure || code != dns.ExtendedErrorCodeSignatureExpired || m.AuthenticatedData {
		t.Errorf("bogus: rcode %d, EDE %d, AD %v", m.Rcode, code, m.AuthenticatedData)
	}
}

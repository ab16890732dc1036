package interop

import (
	"testing"

	"github.com/miekg/dns"
)

// testDANEServers pins what Unbound answers a DNSSEC-aware stub, with a few
// lines of miekg/dns: the AD bit, and SERVFAIL with an Extended DNS Error.
func testDANEServers(t *testing.T, w *signedDNS) {
	t.Run("secure answer to the DO bit holds the RRSIG", func(t *testing.T) {
		// The client must skip it: internal/testserver sends none.
		m, err := secureQuery(w.unbound, "_25._tcp.mx.ee311.test", dns.TypeTLSA)
		if err != nil {
			t.Fatal(err)
		}
		var tlsa, sig int
		for _, rr := range m.Answer {
			switch rr.(type) {
			case *dns.TLSA:
				tlsa++
			case *dns.RRSIG:
				sig++
			}
		}
		if tlsa != 1 || sig != 1 {
			t.Errorf("answer %v; want one TLSA record and its RRSIG", m.Answer)
		}
	})
	for _, c := range []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		ad    bool
		ede   int
	}{
		{"secure TLSA has the AD bit", "_25._tcp.mx.ee311.test", dns.TypeTLSA, dns.RcodeSuccess, true, -1},
		{"CNAME to a secure host has the AD bit", "mx.alias.test", dns.TypeA, dns.RcodeSuccess, true, -1},
		{"secure MX has the AD bit", "ee311.test", dns.TypeMX, dns.RcodeSuccess, true, -1},
		{"secure NODATA has the AD bit", "_25._tcp.mx.nodata.test", dns.TypeTLSA, dns.RcodeSuccess, true, -1},
		{"secure NXDOMAIN has the AD bit", "_25._tcp.absent.test", dns.TypeTLSA, dns.RcodeNameError, true, -1},
		{"insecure zone has no AD bit", "_25._tcp.mx.insecure.test", dns.TypeTLSA, dns.RcodeSuccess, false, -1},
		{"tampered record is SERVFAIL, EDE 6 (DNSSEC bogus)", "_25._tcp.mx.bogus.test", dns.TypeTLSA, dns.RcodeServerFailure, false, 6},
		// Unbound 1.17 says why on the first query of a name and type
		// only: asked again, the answer comes from its cache as EDE 6.
		{"expired signature is SERVFAIL, EDE 7 (signature expired)", "expired.test", dns.TypeSOA, dns.RcodeServerFailure, false, 7},
		{"expired signature asked again is SERVFAIL, EDE 6 (DNSSEC bogus)", "expired.test", dns.TypeSOA, dns.RcodeServerFailure, false, 6},
		{"DNSKEY of the expired zone is SERVFAIL, EDE 7", "expired.test", dns.TypeDNSKEY, dns.RcodeServerFailure, false, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := secureQuery(w.unbound, c.qname, c.qtype)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != c.rcode || m.AuthenticatedData != c.ad || edeCode(m) != c.ede {
				t.Errorf("%s %s: rcode %s, AD %v, EDE %d; want %s, AD %v, EDE %d\n%v", c.qname, dns.TypeToString[c.qtype],
					dns.RcodeToString[m.Rcode], m.AuthenticatedData, edeCode(m), dns.RcodeToString[c.rcode], c.ad, c.ede, m)
			}
		})
	}
}

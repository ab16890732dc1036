package testserver

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// The world signs nothing: it plays a validating resolver that a sender
// trusts (RFC 7672 section 2.1), which says "secure" by the AD bit and
// "bogus" by SERVFAIL. Interop tests with a real signed zone and a real
// validator cover the signatures themselves.

// SetSecure marks zone (a name and every name below it) as DNSSEC-signed
// and validated, or, with secure false, as unsigned: answers about names in
// a secure zone carry the AD bit when the query asked for DNSSEC (the DO
// or AD bit set), those about other names never. The most specific zone
// given wins, so an insecure delegation below a secure zone is
// SetSecure(parent, true) then SetSecure(child, false). A lookup that
// followed CNAMEs is secure only if every name of the chain is.
func (w *World) SetSecure(zone string, secure bool) {
	zone = canon(zone)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.secure == nil {
		w.secure = make(map[string]bool)
	}
	w.secure[zone] = secure
}

// secureLocked reports whether name lies in a secure zone. The caller holds
// w.mu.
func (w *World) secureLocked(name string) bool {
	for n := name; ; {
		if s, ok := w.secure[n]; ok {
			return s
		}
		if n == "." {
			return false
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			n = "."
		} else {
			n = n[i+1:]
		}
	}
}

// Bogus makes the DNS server answer queries for the name as a validating
// resolver answers a bogus one: SERVFAIL, with the Extended DNS Error
// (RFC 8914) of the code given; Bogus(0) means DNSSEC Bogus (6). Other
// codes of DNSSEC failures are 7 (signature expired) to 12 (NSEC missing).
// Wrap it in OnlyType to fail one type only.
type Bogus uint16

func (Bogus) layer() layer { return layerDNS }

// String returns "Bogus(EDE n)".
func (b Bogus) String() string { return fmt.Sprintf("Bogus(EDE %d)", b.code()) }

func (b Bogus) code() uint16 {
	if b == 0 {
		return dns.ExtendedErrorCodeDNSBogus
	}
	return uint16(b)
}

// bogus turns m into the answer of a validating resolver to a bogus query.
func bogus(m *dns.Msg, b Bogus) {
	m.Rcode = dns.RcodeServerFailure
	m.Answer, m.Ns = nil, nil
	o := m.IsEdns0()
	if o == nil {
		m.SetEdns0(dns.MinMsgSize, false)
		o = m.IsEdns0()
	}
	o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: b.code(), ExtraText: "testserver: bogus"})
}

// wantsDNSSEC reports whether req asks for DNSSEC: the DO bit (RFC 3225)
// or the AD bit (RFC 6840 section 5.7).
func wantsDNSSEC(req *dns.Msg) bool {
	if req.AuthenticatedData {
		return true
	}
	o := req.IsEdns0()
	return o != nil && o.Do()
}

// SetTLSA replaces the TLSA records of the SMTP server host, at
// _25._tcp.<host>, with records, each in presentation form ("3 1 1
// 0c72..."); no records removes them.
func (w *World) SetTLSA(host string, records ...string) error {
	name := "_25._tcp." + canon(host)
	rrs := make([]dns.RR, 0, len(records))
	for _, r := range records {
		rr, err := dns.NewRR(name + " " + fmt.Sprint(defaultTTL) + " IN TLSA " + r)
		if err != nil {
			return fmt.Errorf("testserver: tlsa %q: %w", r, err)
		}
		if rr == nil {
			return fmt.Errorf("testserver: tlsa %q: empty record", r)
		}
		rrs = append(rrs, rr)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setLocked(name, dns.TypeTLSA, rrs)
	return nil
}

// Certificate returns the certificate that the world's servers present for
// host (by SNI) under the certificate fault kind (0 for a good one), for
// tests to publish TLSA records of it. Each is minted once and kept, so
// its key does not change.
func (w *World) Certificate(host string, kind CertFault) (tls.Certificate, error) {
	return w.cert(strings.TrimSuffix(strings.ToLower(host), "."), kind)
}

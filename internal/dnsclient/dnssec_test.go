package dnsclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestDNSSECStatus checks RFC 7672 section 2.1's three answers: secure (AD
// on every response of the chain), insecure, and bogus (SERVFAIL, with
// an Extended DNS Error when the server gives one).
func TestDNSSECStatus(t *testing.T) {
	w := testserver.Start(t)
	w.SetSecure("signed.test", true)
	w.SetSecure("unsigned.signed.test", false)
	w.SetMX("signed.test", "mx.signed.test")
	w.SetMX("unsigned.signed.test", "mx.signed.test")
	w.SetCNAME("alias.signed.test", "unsigned.signed.test")
	w.SetCNAME("alias2.signed.test", "signed.test")
	w.SetMX("plain.test", "mx.plain.test")
	w.SetTXT("exists.signed.test", "x")
	w.Fault("bogus.signed.test", testserver.Bogus(0))
	w.Fault("expired.signed.test", testserver.Bogus(dns.ExtendedErrorCodeSignatureExpired))
	w.Fault("fail.signed.test", testserver.ServFail)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plain := New([]string{w.DNSAddr()}, time.Second)
	sec := plain.WithDNSSEC()
	if plain.DNSSEC() || !sec.DNSSEC() {
		t.Fatal("WithDNSSEC must not change the original")
	}
	for _, tc := range []struct {
		name           string
		c              *Client
		secure, exists bool
		final          string
	}{
		{"signed.test", sec, true, true, "signed.test"},
		{"signed.test", plain, false, true, "signed.test"}, // not asked: never secure
		{"unsigned.signed.test", sec, false, true, "unsigned.signed.test"},
		{"alias.signed.test", sec, false, true, "unsigned.signed.test"}, // an insecure hop
		{"alias2.signed.test", sec, true, true, "signed.test"},
		{"plain.test", sec, false, true, "plain.test"},
		{"nx.signed.test", sec, true, false, "nx.signed.test"},         // secure NXDOMAIN
		{"exists.signed.test", sec, true, false, "exists.signed.test"}, // secure NODATA
		{"nx.plain.test", sec, false, false, "nx.plain.test"},
	} {
		a, err := tc.c.LookupSecure(ctx, tc.name, dns.TypeMX)
		if err != nil || a.Secure != tc.secure || a.Exists != tc.exists || a.Name != tc.final {
			t.Errorf("LookupSecure(%s, dnssec=%v) = secure %v exists %v name %q, %v; want %v %v %q",
				tc.name, tc.c.DNSSEC(), a.Secure, a.Exists, a.Name, err, tc.secure, tc.exists, tc.final)
		}
	}
	for _, tc := range []struct {
		name string
		ede  bool
	}{{"bogus.signed.test", true}, {"expired.signed.test", true}, {"fail.signed.test", false}} {
		_, err := sec.LookupSecure(ctx, tc.name, dns.TypeMX)
		if !IsBogus(err) || errors.Is(err, ErrBogus) != tc.ede {
			t.Errorf("LookupSecure(%s) = %v; want SERVFAIL, EDE %v", tc.name, err, tc.ede)
		}
	}
}

// TestTLSA checks the TLSA lookup at _25._tcp.<host>, through a CNAME.
func TestTLSA(t *testing.T) {
	w := testserver.Start(t)
	w.SetSecure("signed.test", true)
	const ee = "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"
	if err := w.SetTLSA("mx.signed.test", ee, "2 0 1 8CB0FC6C527506A053F4F14C8464BEBBD6DEDE1738D11468FD726262E8D5B7A6"); err != nil {
		t.Fatal(err)
	}
	w.SetCNAME("_25._tcp.alias.signed.test", "_25._tcp.mx.signed.test")
	w.SetCNAME("_25._tcp.alias.plain.test", "_25._tcp.mx.signed.test")
	c := New([]string{w.DNSAddr()}, time.Second).WithDNSSEC()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		host   string
		n      int
		secure bool
	}{{"mx.signed.test", 2, true}, {"MX.signed.test.", 2, true}, {"alias.signed.test", 2, true}, {"alias.plain.test", 2, false}, {"none.signed.test", 0, true}} {
		got, err := c.TLSA(ctx, tc.host)
		if err != nil || len(got.Records) != tc.n || got.Secure != tc.secure {
			t.Errorf("TLSA(%s) = %v, %v; want %d records, secure %v", tc.host, got, err, tc.n, tc.secure)
		}
		if tc.n > 0 && err == nil && got.Records[0].String() != "3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6" {
			t.Errorf("TLSA(%s)[0] = %s", tc.host, got.Records[0])
		}
	}
}

package resolver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/validate"
)

// eeRecord returns the DANE-EE record matching the world's good
// certificate for host.
func eeRecord(t *testing.T, w *testserver.World, host string) string {
	t.Helper()
	c, err := w.Certificate(host, 0)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

// TestDANERules checks the conditions of RFC 7672 section 2.2 under which
// TLSA records count, each against the world: the MX RRset and the host's
// addresses must be secure, a failed lookup of either refuses the host,
// and a secure CNAME of the host makes its target the first TLSA base
// domain (section 2.2.3).
func TestDANERules(t *testing.T) {
	w, r := newTest(t, func(o *Options) { o.DNSSEC, o.DNSTimeout, o.FetchTimeout = true, 2*time.Second, 5*time.Second })
	w.SetSecure("test", true)
	hosts := []string{"mx.signed.test", "mx.unsigned-addr.test", "alias.signed.test", "mx.bogus-addr.test", "expired.signed.test", "ta-wrong.signed.test"}
	for _, h := range hosts {
		if _, err := w.AddSMTPHost(h); err != nil {
			t.Fatal(err)
		}
		w.SetAddrs(h, w.IP())
	}
	// A secure CNAME: alias.signed.test → target.signed.test, whose TLSA
	// records are the ones to use, and whose name the certificate may hold.
	w.SetAddrs("alias.signed.test")
	w.SetCNAME("alias.signed.test", "target.signed.test")
	w.SetAddrs("target.signed.test", w.IP())
	for _, h := range []string{"mx.signed.test", "mx.unsigned-addr.test", "mx.bogus-addr.test", "expired.signed.test"} {
		if err := w.SetTLSA(h, eeRecord(t, w, h)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.SetTLSA("target.signed.test", eeRecord(t, w, "target.signed.test")); err != nil {
		t.Fatal(err)
	}
	w.SetSecure("mx.unsigned-addr.test", false)
	w.Fault("mx.bogus-addr.test", testserver.OnlyType{Type: dns.TypeAAAA, Fault: testserver.Bogus(0)})
	// DANE-EE checks neither names nor dates (RFC 7672 section 3.1.1).
	w.Fault("expired.signed.test", testserver.CertExpired)
	if err := w.SetTLSA("expired.signed.test", eeRecordKind(t, w, "expired.signed.test", testserver.CertExpired)); err != nil {
		t.Fatal(err)
	}
	// DANE-TA checks the name (RFC 7672 section 3.2.3).
	if err := w.SetTLSA("ta-wrong.signed.test", "2 0 0 "+hex.EncodeToString(w.CA().Certificate().Raw)); err != nil {
		t.Fatal(err)
	}
	w.Fault("ta-wrong.signed.test", testserver.CertWrongHost)
	w.SetMX("signed.test", hosts...)
	w.SetMX("unsigned.test", "mx.signed.test")
	w.SetSecure("unsigned.test", false)
	w.SetMX("bogus-mx.test", "mx.signed.test")
	w.Fault("bogus-mx.test", testserver.Bogus(0))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, domain, mx string
		status           DANEStatus
		action           Action
		handshake        bool
		base             string
		result           validate.ResultType // reported by the handshake
	}{
		{"secure MX RRset and addresses", "signed.test", "mx.signed.test", DANESecure, Deliver, true, "mx.signed.test", ""},
		{"insecure MX RRset: MTA-STS only", "unsigned.test", "mx.signed.test", DANENone, DeliverWithoutSTS, true, "", ""},
		{"bogus MX RRset: not this MX", "bogus-mx.test", "mx.signed.test", DANEBogus, Refuse, false, "", ""},
		{"insecure addresses: MTA-STS only", "signed.test", "mx.unsigned-addr.test", DANENone, DeliverWithoutSTS, true, "", ""},
		{"bogus addresses: not this MX", "signed.test", "mx.bogus-addr.test", DANEBogus, Refuse, false, "", ""},
		{"secure CNAME: the target is the base domain", "signed.test", "alias.signed.test", DANESecure, Deliver, true, "target.signed.test", ""},
		{"DANE-EE ignores expiry", "signed.test", "expired.signed.test", DANESecure, Deliver, true, "expired.signed.test", ""},
		{"DANE-TA checks the name", "signed.test", "ta-wrong.signed.test", DANESecure, Deliver, false, "ta-wrong.signed.test", validate.ResultCertificateHostMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := r.Check(ctx, tc.domain, tc.mx)
			if err != nil || d.DANEStatus != tc.status || d.Action != tc.action {
				t.Fatalf("Check = %v %v (%s, %s, %v), %v; want %v %v", d.DANEStatus, d.Action, d.Reason, d.DANEWhy(), d.Err, err, tc.status, tc.action)
			}
			if (d.DANEStatus == DANENone) != (d.DANEWhy() != "") {
				t.Errorf("DANEWhy = %q for %v", d.DANEWhy(), d.DANEStatus)
			}
			if d.DANEStatus != DANENone && d.PolicyType() != "tlsa" {
				t.Errorf("PolicyType = %q; want tlsa", d.PolicyType())
			}
			if want := tc.base; want != "" && d.PolicyDomain() != want {
				t.Errorf("PolicyDomain = %q; want %q", d.PolicyDomain(), want)
			}
			if tc.action == Refuse {
				if d.PolicyDomain() != tc.mx {
					t.Errorf("PolicyDomain = %q; want %q", d.PolicyDomain(), tc.mx)
				}
				if d.Result != validate.ResultDNSSECInvalid || validate.ResultOf(d.Err) != validate.ResultDNSSECInvalid {
					t.Errorf("Result %q, Err %v; want dnssec-invalid", d.Result, d.Err)
				}
				return
			}
			if tc.base != "" && d.DANE.Base() != tc.base {
				t.Errorf("base domain %q; want %q", d.DANE.Base(), tc.base)
			}
			if err, rep := starttls(ctx, w, tc.mx, &d); (err == nil) != tc.handshake || validate.ResultOf(rep) != tc.result {
				t.Errorf("handshake: %v (reported %v); want success %v, result %q", err, rep, tc.handshake, tc.result)
			}
		})
	}
}

func eeRecordKind(t *testing.T, w *testserver.World, host string, kind testserver.CertFault) string {
	t.Helper()
	c, err := w.Certificate(host, kind)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

// TestDANECache: the DANE lookups of a host are made once while their TTL
// runs (concurrent Checks share them), and again after it.
func TestDANECache(t *testing.T) {
	clock := newFakeClock()
	w, r := newTest(t, func(o *Options) { o.DNSSEC, o.Clock = true, clock.Now })
	w.SetSecure("test", true)
	w.SetMX("signed.test", "mx.signed.test")
	w.SetAddrs("mx.signed.test", w.IP())
	if err := w.SetTLSA("mx.signed.test", "3 1 1 "+hex.EncodeToString(make([]byte, 32))); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan DANEStatus, 8)
	for range 8 {
		go func() {
			d, _ := r.Check(ctx, "signed.test", "mx.signed.test")
			done <- d.DANEStatus
		}()
	}
	for range 8 {
		if s := <-done; s != DANESecure {
			t.Fatalf("status %v", s)
		}
	}
	if n := w.Queries("_25._tcp.mx.signed.test", dns.TypeTLSA); n != 1 {
		t.Errorf("%d TLSA queries for 8 concurrent checks; want 1", n)
	}
	clock.Advance(time.Duration(300+1) * time.Second) // the world's TTL
	if d, _ := r.Check(ctx, "signed.test", "mx.signed.test"); d.DANEStatus != DANESecure {
		t.Fatalf("status %v", d.DANEStatus)
	}
	if n := w.Queries("_25._tcp.mx.signed.test", dns.TypeTLSA); n != 2 {
		t.Errorf("%d TLSA queries after the TTL; want 2", n)
	}
}

// TestDANEOffByDefault: without Options.DNSSEC no query asks for DNSSEC
// and no TLSA record is looked up.
func TestDANEOffByDefault(t *testing.T) {
	w, r := newTest(t)
	w.SetSecure("test", true)
	w.SetMX("signed.test", "mx.signed.test")
	w.SetAddrs("mx.signed.test", w.IP())
	if err := w.SetTLSA("mx.signed.test", "3 1 1 "+hex.EncodeToString(make([]byte, 32))); err != nil {
		t.Fatal(err)
	}
	d, err := r.Check(context.Background(), "signed.test", "mx.signed.test")
	if err != nil || d.DANEStatus != DANENone || d.Action != DeliverWithoutSTS || d.PolicyType() != "no-policy-found" {
		t.Errorf("Check = %+v, %v", d, err)
	}
	if n := w.Queries("_25._tcp.mx.signed.test", dns.TypeTLSA); n != 0 {
		t.Errorf("%d TLSA queries with DANE off", n)
	}
}

// TestDANECacheHitAllocs: with DANE on, a Check whose policy and DANE
// status are cached allocates nothing either.
func TestDANECacheHitAllocs(t *testing.T) {
	w, r := newTest(t, func(o *Options) { o.DNSSEC = true })
	w.SetSecure("test", true)
	if _, err := w.AddDomain("signed.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.signed.test"}, MaxAge: 86400}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTLSA("mx.signed.test", eeRecord(t, w, "mx.signed.test")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, err := r.Check(ctx, "signed.test", "mx.signed.test"); err != nil || d.DANEStatus != DANESecure {
		t.Fatalf("Check = %v, %v", d.DANEStatus, err)
	}
	if n := testing.AllocsPerRun(100, func() { r.Check(ctx, "signed.test", "mx.signed.test") }); n != 0 {
		t.Errorf("%v allocations per cached Check under DANE; want 0", n)
	}
}

// TestDANEAlone: Resolver.DANE answers without MTA-STS, and only with
// DANE on.
func TestDANEAlone(t *testing.T) {
	w, r := newTest(t, func(o *Options) { o.DNSSEC = true })
	w.SetSecure("test", true)
	w.SetMX("signed.test", "mx.signed.test", "bad.signed.test")
	w.SetAddrs("mx.signed.test", w.IP())
	w.SetAddrs("bad.signed.test", w.IP())
	if err := w.SetTLSA("mx.signed.test", eeRecord(t, w, "mx.signed.test")); err != nil {
		t.Fatal(err)
	}
	w.Fault("_25._tcp.bad.signed.test", testserver.Bogus(0))
	ctx := context.Background()
	if s, set, err := r.DANE(ctx, "signed.test", "MX.signed.test."); err != nil || s != DANESecure || len(set.PolicyStrings()) != 1 {
		t.Errorf("DANE(mx) = %v, %v, %v", s, set, err)
	}
	if s, _, err := r.DANE(ctx, "signed.test", "bad.signed.test"); s != DANEBogus || validate.ResultOf(err) != validate.ResultDNSSECInvalid {
		t.Errorf("DANE(bad) = %v, %v", s, err)
	}
	_, off := newTest(t)
	if _, _, err := off.DANE(ctx, "signed.test", "mx.signed.test"); !errors.Is(err, ErrDANEOff) {
		t.Errorf("DANE with DNSSEC off: %v", err)
	}
}

// TestDANEExplained: String and LogValue name the DANE status when DANE
// had a say.
func TestDANEExplained(t *testing.T) {
	d := Decision{Action: Refuse, Domain: "a.test", MX: "mx.a.test", Reason: ReasonDNSSECInvalid, DANEStatus: DANEBogus, Result: validate.ResultDNSSECInvalid}
	if s := d.String(); s != "refuse a.test mx mx.a.test: "+ReasonDNSSECInvalid+" [result dnssec-invalid, dane bogus]" {
		t.Errorf("String = %q", s)
	}
	found := false
	for _, a := range d.LogValue().Group() {
		found = found || a.Key == "dane" && a.Value.String() == "bogus"
	}
	if !found {
		t.Errorf("LogValue lacks dane=bogus: %v", d.LogValue())
	}
	if s := (Decision{Action: Deliver}).String(); strings.Contains(s, "dane") {
		t.Errorf("String without DANE = %q", s)
	}
}

// Decision stays comparable, as it was before DANE.
var _ = Decision{} == Decision{}

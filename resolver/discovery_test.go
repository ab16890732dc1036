package resolver

import (
	"context"
	"errors"
	"testing"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestReferralIsNoNODATA: a referral or lame answer to the _mta-sts query
// is a temporary failure of the name server (whether a policy exists is
// unknown), never "no policy".
func TestReferralIsNoNODATA(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400})
	for _, f := range []testserver.DNSFault{testserver.Referral, testserver.Lame} {
		w.Fault("_mta-sts."+domain, f)
		d, err := r.Check(context.Background(), domain, "evil.example")
		if err != nil || d.Action != Defer || !errors.Is(d.Err, dnsclient.ErrNotRecursive) {
			t.Errorf("%v: Check = %+v, %v; want Defer", f, d, err)
		}
		if e, err := r.Lookup(context.Background(), domain); e != nil || !errors.Is(err, dnsclient.ErrNotRecursive) {
			t.Errorf("%v: Lookup = %+v, %v", f, e, err)
		}
	}
}

// TestAddressLiteralHasNoPolicy: a domain that is an address literal has
// no policy (RFC 8461 section 3.4): deliver without MTA-STS, without an
// error and without a query.
func TestAddressLiteralHasNoPolicy(t *testing.T) {
	_, r := newTest(t)
	ctx := context.Background()
	for _, d := range []string{"[192.0.2.1]", "192.0.2.1", "[IPv6:2001:db8::1]", "[ipv6:::1]", "2001:db8::1", "[2001:db8::1]", "192.0.2.1."} {
		dec, err := r.Check(ctx, d, "mx.example.test")
		if err != nil || dec.Action != DeliverWithoutSTS || dec.Reason != ReasonAddressLiteral {
			t.Errorf("Check(%q) = %+v, %v; want DeliverWithoutSTS", d, dec, err)
		}
		if e, err := r.Lookup(ctx, d); e != nil || err != nil {
			t.Errorf("Lookup(%q) = %+v, %v; want no policy", d, e, err)
		}
	}
	for _, d := range []string{"[192.0.2]", "[example.test]", "[]", "1.2.3.4.5"} {
		if _, err := r.Check(ctx, d, "mx.example.test"); !errors.Is(err, ErrInvalidDomain) {
			t.Errorf("Check(%q): %v, want ErrInvalidDomain", d, err)
		}
	}
}

// FuzzAddressLiteral: an address literal is never also a domain name, and
// the test never panics.
func FuzzAddressLiteral(f *testing.F) {
	for _, s := range []string{"[192.0.2.1]", "192.0.2.1", "[IPv6:2001:db8::1]", "2001:db8::1", "[fe80::1%eth0]", "example.com", "[", "]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isAddressLiteral(s) {
			if n, err := Normalize(s); err == nil {
				t.Fatalf("%q is an address literal and the domain %q", s, n)
			}
		}
	})
}

package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/resolver"
)

// TLSA records for the DANE world: a usable DANE-EE(3) one and an
// unusable PKIX-EE(1) one (RFC 7672 section 3.1.3). Their data matches no
// certificate: the socketmap answer depends on their status only.
const (
	tlsaUsable   = "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"
	tlsaUnusable = "1 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"
)

const daneEnforceReply = "OK secure match=.mx.test servername=hostname"

// daneCase is one domain of the DANE world: its MX hosts and the answers
// with and without -dane.
type daneCase struct {
	domain  string
	mx      []string // MX hosts; nil: no MX records
	policy  bool     // an enforce MTA-STS policy naming *.mx.test
	want    string   // with -dane
	wantOff string   // without -dane
}

// daneCases is the answer table of -dane, one row per rule.
var daneCases = []daneCase{
	{"all-secure.test", []string{"s1.mx.test", "s2.mx.test"}, true, "OK dane-only", daneEnforceReply},
	{"all-secure-no-sts.test", []string{"s1.mx.test", "s2.mx.test"}, false, "OK dane-only", "NOTFOUND "},
	{"secure-and-none.test", []string{"s1.mx.test", "n1.mx.test"}, true, "OK dane", daneEnforceReply},
	{"secure-and-unusable.test", []string{"s1.mx.test", "u1.mx.test"}, true, "OK dane", daneEnforceReply},
	{"unusable-only.test", []string{"u1.mx.test"}, true, "OK dane", daneEnforceReply},
	{"secure-and-bogus.test", []string{"s1.mx.test", "b1.mx.test"}, true, "OK dane", daneEnforceReply},
	{"bogus-only-no-sts.test", []string{"b1.mx.test"}, false, "OK dane", "NOTFOUND "},
	{"no-tlsa.test", []string{"n1.mx.test"}, true, daneEnforceReply, daneEnforceReply},
	{"no-tlsa-no-sts.test", []string{"n1.mx.test"}, false, "NOTFOUND ", "NOTFOUND "},
	{"insecure-address.test", []string{"s1.mx.test", "i1.mx.test"}, true, "OK dane", daneEnforceReply},
	{"insecure-mx.insecure.test", []string{"s1.mx.test"}, true, daneEnforceReply, daneEnforceReply},
	{"mx-bogus.test", []string{"s1.mx.test"}, true, "TEMP DANE: dns: MX lookup of mx-bogus.test*", daneEnforceReply},
	{"null-mx.test", []string{"."}, false, "NOTFOUND ", "NOTFOUND "},
	{"self.test", nil, false, "OK dane-only", "NOTFOUND "},
}

// daneWorld publishes daneCases in a signed zone "test" with an unsigned
// child zone "insecure.test". MX hosts: s* usable TLSA, u* unusable TLSA,
// b* a TLSA lookup that fails validation, n* a secure denial of TLSA, i*
// usable TLSA but addresses in an unsigned zone.
func daneWorld(t testing.TB) *testserver.World {
	t.Helper()
	w := testserver.Start(t)
	w.SetSecure("test", true)
	w.SetSecure("insecure.test", false)
	w.SetSecure("i1.mx.test", false)
	for _, h := range []string{"s1.mx.test", "s2.mx.test", "u1.mx.test", "b1.mx.test", "n1.mx.test", "i1.mx.test", "self.test"} {
		w.SetAddrs(h, w.IP())
		var err error
		switch h[0] {
		case 's', 'i', 'b':
			err = w.SetTLSA(h, tlsaUsable)
		case 'u':
			err = w.SetTLSA(h, tlsaUnusable)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	w.Fault("_25._tcp.b1.mx.test", testserver.Bogus(0))
	w.Fault("mx-bogus.test", testserver.OnlyType{Type: dns.TypeMX, Fault: testserver.Bogus(0)})
	for _, c := range daneCases {
		if c.policy {
			cmdtest.AddDomain(t, w, c.domain, testserver.Policy{Mode: "enforce", MX: []string{"*.mx.test"}, MaxAge: 86400})
		}
		if c.mx != nil {
			w.SetMX(c.domain, c.mx...)
		}
	}
	return w
}

// newDANEResolver is newResolver with Options.DNSSEC.
func newDANEResolver(t testing.TB, w *testserver.World) *resolver.Resolver {
	t.Helper()
	r, err := resolver.New(resolver.Options{
		DNS: []string{w.DNSAddr()}, RootCAs: w.RootCAs(), HTTPSPort: w.HTTPSPort(),
		FetchTimeout: 5 * time.Second, DNSTimeout: 2 * time.Second, DNSSEC: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func newTestDANELookup(w *testserver.World, r *resolver.Resolver) *daneLookup {
	return newDANELookup(dnsclient.New([]string{w.DNSAddr()}, 2*time.Second).WithDNSSEC(), r, 5*time.Second)
}

// TestDANEAnswers checks the answer table of -dane (RFC 8461 section 2:
// MTA-STS never overrides DANE) and that without it every answer is the
// MTA-STS one.
func TestDANEAnswers(t *testing.T) {
	w := daneWorld(t)
	r := newDANEResolver(t, w)
	on := dial(t, serve(t, &Server{Lookuper: r, Log: testLogger(t), DANE: newTestDANELookup(w, r)}))
	off := dial(t, serve(t, &Server{Lookuper: newResolver(t, w), Log: testLogger(t)}))
	for _, c := range daneCases {
		t.Run(c.domain, func(t *testing.T) {
			for range 2 { // the second answer comes from the caches
				if got := on.query("postfix " + c.domain); !replyMatches(got, c.want) {
					t.Errorf("-dane: got %q, want %q", got, c.want)
				}
				if got := off.query("postfix " + c.domain); got != c.wantOff {
					t.Errorf("without -dane: got %q, want %q", got, c.wantOff)
				}
			}
		})
	}
}

// TestDANEOffUnchanged checks that without DANE the server sends no DNSSEC
// query and answers every domain of the MTA-STS world as it does with a
// DANE checker over a world that signs nothing.
func TestDANEOffUnchanged(t *testing.T) {
	w := newWorld(t)
	off := dial(t, serve(t, &Server{Lookuper: newResolver(t, w), Log: testLogger(t)}))
	r := newDANEResolver(t, w)
	on := dial(t, serve(t, &Server{Lookuper: r, Log: testLogger(t), DANE: newTestDANELookup(w, r)}))
	for _, d := range []string{"enforce.test", "testing.test", "none.test", "broken.test", "invalid.test",
		"servfail.test", "refused.test", "plain.test", "nodomain.test", "[192.0.2.1]", ".enforce.test"} {
		a, b := off.query("postfix "+d), on.query("postfix "+d)
		if a != b {
			t.Errorf("%s: without DANE %q, with DANE over an unsigned world %q", d, a, b)
		}
	}
	// The MX lookups above were the DANE server's only: the other asks none.
	w.ResetQueries()
	off.query("postfix plain.test")
	if n := w.Queries("plain.test", dns.TypeMX); n != 0 {
		t.Errorf("without DANE: %d MX queries", n)
	}
}

// TestDANECached checks that a domain's DANE level is looked up once while
// it is cached, and again once it expires.
func TestDANECached(t *testing.T) {
	w := daneWorld(t)
	r := newDANEResolver(t, w)
	l := newTestDANELookup(w, r)
	now := time.Now()
	l.now = func() time.Time { return now }
	ctx := context.Background()
	// The first lookup asks for the MX RRset here for the hosts, and in
	// the resolver for its security, once per host looked up at once (the
	// resolver caches it, but does not expose it nor merge those lookups).
	var first int
	for i := range 3 {
		lv, err := l.DANELevel(ctx, "all-secure.test")
		if err != nil || lv != DANEAllHosts {
			t.Fatalf("lookup %d: %v, %v", i, lv, err)
		}
		if i == 0 {
			first = w.Queries("all-secure.test", dns.TypeMX)
		}
	}
	if n := w.Queries("all-secure.test", dns.TypeMX); n != first || n > 3 {
		t.Errorf("%d MX queries after 3 lookups, %d after the first", n, first)
	}
	now = now.Add(daneMaxTTL + time.Second)
	if lv, err := l.DANELevel(ctx, "all-secure.test"); err != nil || lv != DANEAllHosts {
		t.Fatalf("after expiry: %v, %v", lv, err)
	}
	if n := w.Queries("all-secure.test", dns.TypeMX); n != first+1 {
		t.Errorf("after expiry: %d MX queries, want %d", n, first+1)
	}
}

// TestDANESkipAndClosed checks that -overrides skip wins over DANE, and
// that a closed resolver is answered TEMP, never weaker.
func TestDANESkipAndClosed(t *testing.T) {
	w := daneWorld(t)
	r := newDANEResolver(t, w)
	s := &Server{Lookuper: r, Log: testLogger(t), DANE: newTestDANELookup(w, r),
		Overrides: func(d string) resolver.Override {
			if d == "all-secure.test" {
				return resolver.Skip
			}
			return 0
		}}
	c := dial(t, serve(t, s))
	if got := c.query("postfix all-secure.test"); got != "NOTFOUND " {
		t.Errorf("skipped: got %q", got)
	}
	r.Close()
	if got := c.query("postfix secure-and-none.test"); got != string(replyClosed) {
		t.Errorf("closed: got %q, want %q", got, replyClosed)
	}
}

// TestDANELevelOf checks the rule that turns host statuses into a level.
func TestDANELevelOf(t *testing.T) {
	S, U, B, N := resolver.DANESecure, resolver.DANEUnusable, resolver.DANEBogus, resolver.DANENone
	for _, tc := range []struct {
		name string
		in   []resolver.DANEStatus
		want DANELevel
	}{
		{"no_hosts", nil, DANENotApplicable},
		{"every_host_secure_is_dane_only", []resolver.DANEStatus{S, S}, DANEAllHosts},
		{"one_host_without_tlsa_is_per_host", []resolver.DANEStatus{S, N}, DANEPerHost},
		{"unusable_is_per_host", []resolver.DANEStatus{U}, DANEPerHost},
		{"bogus_is_never_weaker_than_dane", []resolver.DANEStatus{B}, DANEPerHost},
		{"bogus_with_secure_is_per_host", []resolver.DANEStatus{S, B}, DANEPerHost},
		{"no_tlsa_anywhere_is_mta_sts", []resolver.DANEStatus{N, N}, DANENotApplicable},
	} {
		if got := levelOf(tc.in); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestBinaryDANE runs the built command with and without -dane.
func TestBinaryDANE(t *testing.T) {
	bin := buildBinary(t)
	dw := daneWorld(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := dw.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	args := []string{"-listen", "127.0.0.1:0", "-timeout", "5s", "-dns", dw.DNSAddr(), "-ca", ca,
		"-https-port", strconv.Itoa(dw.HTTPSPort())}
	for _, tc := range []struct {
		name string
		args []string
		want func(daneCase) string
	}{
		{"dane", []string{"-dane"}, func(c daneCase) string { return c.want }},
		{"off", nil, func(c daneCase) string { return c.wantOff }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, bin, cmdtest.Args(args, tc.args...)...)
			c := dial(t, p.addr)
			for _, dc := range daneCases {
				if got, want := c.query("postfix "+dc.domain), tc.want(dc); !replyMatches(got, want) {
					t.Errorf("%s: got %q, want %q", dc.domain, got, want)
				}
			}
			p.stop()
		})
	}
}

// TestDANETLSRPT checks that with -tlsrpt the DANE answers carry no
// attributes (Postfix reports DANE sessions from its own TLSA lookups) and
// the MTA-STS ones keep theirs.
func TestDANETLSRPT(t *testing.T) {
	w := daneWorld(t)
	r := newDANEResolver(t, w)
	c := dial(t, serve(t, &Server{Lookuper: r, Log: testLogger(t), TLSRPT: true, DANE: newTestDANELookup(w, r)}))
	for d, want := range map[string]string{
		"all-secure.test":    "OK dane-only",
		"unusable-only.test": "OK dane",
		"no-tlsa.test":       daneEnforceReply + " policy_type=sts policy_domain=no-tlsa.test mx_host_pattern=*.mx.test*",
	} {
		if got := c.query("postfix " + d); !replyMatches(got, want) && !strings.HasPrefix(got, strings.TrimSuffix(want, "*")) {
			t.Errorf("%s: got %q, want %q", d, got, want)
		}
	}
}

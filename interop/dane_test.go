package interop

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

// The addresses of the DANE tests.
const (
	daneNSD     = "127.0.56.10"
	daneUnbound = "127.0.56.11"
)

// handshakeTimeout bounds one SMTP session with STARTTLS.
const handshakeTimeout = 10 * time.Second

// daneCase is a domain with one MX host, mx.<domain>, the TLSA records
// published for it, the MTA-STS policy of the domain, and the verdict.
type daneCase struct {
	name   string
	domain string
	// host is the MX host; default mx.<domain>.
	host string
	// tlsa returns the TLSA records of the host (presentation form, "3 1
	// 1 ab..."); nil publishes none.
	tlsa func(t testing.TB, w *testserver.World, host string) []string
	// mode is the MTA-STS mode published ("" no policy); mxPattern the
	// policy's mx line (default the host).
	mode, mxPattern string
	// nodata: the TLSA name exists (a TXT record) with no TLSA record.
	nodata bool
	// bogus: the TLSA record is tampered with after signing; bogusMX:
	// the domain's MX record.
	bogus, bogusMX bool
	// wildcard: the TLSA records are at *._tcp.<host>.
	wildcard bool
	// alias: the MX host is a CNAME to this host name, which has the
	// address and TLSA records (RFC 7672 section 2.2.3): the TLSA base
	// domain, and the name sent in SNI.
	alias string
	// tlsaAt: the TLSA name of the host is a CNAME to this name, which has
	// the records.
	tlsaAt string
	// chain: the MX host sends the CA's certificate after its own
	// (startChainMX) instead of being a server of internal/testserver.
	chain bool

	// bogusType and ede: for DANEBogus, the lookup that failed and the
	// Extended DNS Error that Unbound sent (one of ede: see
	// testDANEServers for why an expired signature may come as 6).
	bogusType string
	ede       []int

	status     resolver.DANEStatus
	action     resolver.Action
	requireTLS bool
	result     validate.ResultType // Decision.Result
	// handshake is the result type of the STARTTLS handshake ("" success);
	// none is tried for Refuse.
	handshake validate.ResultType
	// reported: the handshake is reported (TLSConfigReport) with this
	// result; "none" when it must not be reported at all.
	reported validate.ResultType
}

// mx returns the MX host of c.
func (c daneCase) mx() string {
	if c.host != "" {
		return c.host
	}
	return "mx." + c.domain
}

// tlsaOf returns the TLSA record of usage, selector and matching type for
// the certificate the world presents for host (the CA's for usage 2).
func tlsaOf(usage, selector, matching int) func(t testing.TB, w *testserver.World, host string) []string {
	return func(t testing.TB, w *testserver.World, host string) []string {
		t.Helper()
		cert, err := w.Certificate(host, 0)
		if err != nil {
			t.Fatal(err)
		}
		der := cert.Leaf.Raw
		spki := cert.Leaf.RawSubjectPublicKeyInfo
		if usage == 2 {
			der, spki = w.CA().Certificate().Raw, w.CA().Certificate().RawSubjectPublicKeyInfo
		}
		data := der
		if selector == 1 {
			data = spki
		}
		switch matching {
		case 1:
			s := sha256.Sum256(data)
			data = s[:]
		case 2:
			s := sha512.Sum512(data)
			data = s[:]
		}
		return []string{fmt.Sprintf("%d %d %d %s", usage, selector, matching, hex.EncodeToString(data))}
	}
}

// otherKey is a DANE-EE 3 1 1 record of a key that host does not have.
func otherKey(t testing.TB, w *testserver.World, host string) []string {
	return tlsaOf(3, 1, 1)(t, w, "other."+host)
}

// bogusPreference is the preference of the MX records whose signature is
// broken.
const bogusPreference = 17

// bogusData is the data of the TLSA record whose signature is broken.
const bogusData = "abababababababababababababababababababababababababababababababab"

func daneCases() []daneCase {
	const deliver, refuse = resolver.Deliver, resolver.Refuse
	secure, none, unusable, bogus := resolver.DANESecure, resolver.DANENone, resolver.DANEUnusable, resolver.DANEBogus
	return []daneCase{
		// DANE-EE: the leaf's key or certificate; DANE wins over every mode.
		{name: "DANE-EE 3 1 1 over an enforce policy whose mx does not match", domain: "ee311.test", tlsa: tlsaOf(3, 1, 1),
			mode: "enforce", mxPattern: "other.ee311.test", status: secure, action: deliver, requireTLS: true},
		{name: "DANE-EE 3 0 1 over a testing policy", domain: "ee301.test", tlsa: tlsaOf(3, 0, 1),
			mode: "testing", status: secure, action: deliver, requireTLS: true},
		{name: "DANE-EE 3 1 2 without a policy", domain: "ee312.test", tlsa: tlsaOf(3, 1, 2),
			status: secure, action: deliver, requireTLS: true},
		{name: "DANE-EE 3 0 0 (the whole certificate) over an enforce policy", domain: "ee300.test", tlsa: tlsaOf(3, 0, 0),
			mode: "enforce", status: secure, action: deliver, requireTLS: true},
		{name: "DANE-EE 3 1 0 (the whole key) over a testing policy", domain: "ee310.test", tlsa: tlsaOf(3, 1, 0),
			mode: "testing", status: secure, action: deliver, requireTLS: true},
		{name: "DANE-EE 3 0 2 without a policy", domain: "ee302.test", tlsa: tlsaOf(3, 0, 2),
			status: secure, action: deliver, requireTLS: true},
		// DANE-TA: the CA, which the MX host does not send (its chain is
		// the leaf alone): a full record is an anchor all the same.
		{name: "DANE-TA 2 0 0 over a none policy", domain: "ta200.test", tlsa: tlsaOf(2, 0, 0),
			mode: "none", status: secure, action: deliver, requireTLS: true},
		{name: "DANE-TA 2 1 0 over an enforce policy", domain: "ta210.test", tlsa: tlsaOf(2, 1, 0),
			mode: "enforce", status: secure, action: deliver, requireTLS: true},
		// A digest of the CA, which the host sends after its certificate.
		{name: "DANE-TA 2 0 1 of a CA the host sends over a testing policy", domain: "ta201chain.test", tlsa: tlsaOf(2, 0, 1),
			chain: true, mode: "testing", status: secure, action: deliver, requireTLS: true},
		{name: "DANE-TA 2 1 1 of a CA the host sends over an enforce policy whose mx does not match", domain: "ta211chain.test",
			tlsa: tlsaOf(2, 1, 1), chain: true, mode: "enforce", mxPattern: "other.ta211chain.test",
			status: secure, action: deliver, requireTLS: true},
		{name: "DANE-TA 2 0 2 of a CA the host sends without a policy", domain: "ta202chain.test", tlsa: tlsaOf(2, 0, 2),
			chain: true, status: secure, action: deliver, requireTLS: true},
		{name: "DANE-TA 2 1 2 of a CA the host sends over a none policy", domain: "ta212chain.test", tlsa: tlsaOf(2, 1, 2),
			chain: true, mode: "none", status: secure, action: deliver, requireTLS: true},
		// A digest of the CA matches nothing the host sends: RFC 7671
		// section 5.2.2, the server must send its trust anchor.
		{name: "DANE-TA 2 0 1 of a CA the host does not send fails", domain: "ta201.test", tlsa: tlsaOf(2, 0, 1),
			status: secure, action: deliver, requireTLS: true,
			handshake: validate.ResultTLSAInvalid, reported: validate.ResultTLSAInvalid},
		{name: "DANE-TA 2 1 1 of a CA the host does not send fails", domain: "ta211.test", tlsa: tlsaOf(2, 1, 1),
			mode: "enforce", status: secure, action: deliver, requireTLS: true,
			handshake: validate.ResultTLSAInvalid, reported: validate.ResultTLSAInvalid},
		// CNAMEs, each hop signed.
		{name: "MX host CNAME to a secure host: TLSA and SNI at the target", domain: "alias.test", alias: "target.alias.test",
			tlsa: tlsaOf(3, 1, 1), mode: "testing", status: secure, action: deliver, requireTLS: true},
		{name: "TLSA name CNAME to a shared TLSA record", domain: "tlsacname.test", tlsaAt: "_25._tcp.shared.tlsacname.test",
			tlsa: tlsaOf(3, 1, 1), status: secure, action: deliver, requireTLS: true},
		{name: "wildcard TLSA record", domain: "wild.test", wildcard: true,
			tlsa: tlsaOf(3, 1, 1), status: secure, action: deliver, requireTLS: true},
		{name: "MX host CNAME to a host in an insecure zone leaves enforce to MTA-STS", domain: "alias-ins.test",
			alias: "target.insecure.test", tlsa: tlsaOf(3, 1, 1), mode: "enforce", status: none, action: deliver, requireTLS: true},
		{name: "TLSA name CNAME into an insecure zone leaves testing to MTA-STS", domain: "tlsacname-ins.test",
			tlsaAt: "_25._tcp.shared.insecure.test", tlsa: otherKey, mode: "testing", status: none, action: deliver},
		// A record for another key: the enforce policy would accept the
		// certificate (valid, right name), DANE refuses it.
		{name: "DANE-EE for another key fails the handshake over a matching enforce policy", domain: "wrongkey.test",
			tlsa: otherKey, mode: "enforce", status: secure, action: deliver, requireTLS: true,
			handshake: validate.ResultTLSAInvalid, reported: validate.ResultTLSAInvalid},
		// DNSSEC failures: not this MX, whatever the policy says.
		{name: "bogus signature refuses over a testing policy", domain: "bogus.test", bogus: true,
			mode: "testing", bogusType: "TLSA", ede: []int{6}, status: bogus, action: refuse, result: validate.ResultDNSSECInvalid},
		{name: "expired signature refuses over a matching enforce policy", domain: "exp.test", host: "mx.expired.test",
			tlsa: tlsaOf(3, 1, 1), mode: "enforce", bogusType: "A", ede: []int{7, 6}, status: bogus, action: refuse, result: validate.ResultDNSSECInvalid},
		// No DANE: MTA-STS decides.
		{name: "insecure delegation leaves enforce to MTA-STS", domain: "ins.test", host: "mx.insecure.test",
			tlsa: tlsaOf(3, 1, 1), mode: "enforce", status: none, action: deliver, requireTLS: true, reported: ""},
		{name: "insecure delegation without a policy is opportunistic", domain: "ins2.test", host: "mx2.insecure.test",
			tlsa:   otherKey,
			status: none, action: resolver.DeliverWithoutSTS, reported: "none"},
		{name: "secure NODATA leaves testing to MTA-STS", domain: "nodata.test", nodata: true,
			mode: "testing", status: none, action: deliver, reported: ""},
		{name: "insecure MX RRset leaves enforce to MTA-STS, whose mx does not match", domain: "d.insecure.test",
			host: "mx.insmx.test", tlsa: tlsaOf(3, 1, 1), mode: "enforce", mxPattern: "other.insecure.test",
			status: none, action: refuse, result: validate.ResultValidationFailure},
		// Only unusable records: TLS required; MTA-STS authenticates where
		// it applies, else any certificate passes, reported tlsa-invalid.
		{name: "only PKIX-EE records without a policy", domain: "pkix.test", tlsa: tlsaOf(1, 1, 1),
			status: unusable, action: deliver, requireTLS: true, reported: validate.ResultTLSAInvalid},
		{name: "only PKIX-EE records under an enforce policy", domain: "pkixsts.test", tlsa: tlsaOf(1, 1, 1),
			mode: "enforce", status: unusable, action: deliver, requireTLS: true, reported: ""},
		{name: "only PKIX-EE records under a testing policy", domain: "pkixtesting.test", tlsa: tlsaOf(1, 1, 1),
			mode: "testing", status: unusable, action: deliver, requireTLS: true, reported: ""},
		{name: "only PKIX-EE records under an enforce policy whose mx does not match", domain: "pkixmismatch.test",
			tlsa: tlsaOf(1, 1, 1), mode: "enforce", mxPattern: "other.pkixmismatch.test",
			status: unusable, action: refuse, result: validate.ResultValidationFailure},
		{name: "bogus MX RRset refuses over a matching enforce policy", domain: "bogusmx.test", bogusMX: true,
			tlsa: tlsaOf(3, 1, 1), mode: "enforce", bogusType: "MX", ede: []int{6}, status: bogus, action: refuse, result: validate.ResultDNSSECInvalid},
		{name: "bogus signature refuses without a policy", domain: "bogus2.test", bogus: true,
			bogusType: "TLSA", ede: []int{6}, status: bogus, action: refuse, result: validate.ResultDNSSECInvalid},
	}
}

// daneZones writes the zones of the cases: test. (signed, the trust
// anchor), insecure.test. (unsigned, no DS) and expired.test. (signed,
// its signatures expired, its DS in test.).
func daneZones(t testing.TB, w *testserver.World, cases []daneCase, ids, addrs map[string]string) []signedZone {
	var top, insecure, expired strings.Builder
	fmt.Fprintf(&top, `$ORIGIN test.
$TTL 300
@		IN SOA	ns1.test. hostmaster.test. ( 1 3600 600 86400 60 )
		IN NS	ns1.test.
ns1		IN A	%[1]s
insecure	IN NS	ns1.test.
expired		IN NS	ns1.test.
`, daneNSD)
	soa := func(b *strings.Builder, origin string) {
		fmt.Fprintf(b, "$ORIGIN %s\n$TTL 300\n@\tIN SOA\tns1.test. hostmaster.test. ( 1 3600 600 86400 60 )\n\tIN NS\tns1.test.\n", origin)
	}
	soa(&insecure, "insecure.test.")
	zoneOf := func(name string) *strings.Builder {
		switch {
		case dns.IsSubDomain("insecure.test.", dns.Fqdn(name)):
			return &insecure
		case dns.IsSubDomain("expired.test.", dns.Fqdn(name)):
			return &expired
		}
		return &top
	}
	soa(&expired, "expired.test.")
	for _, c := range cases {
		// rr writes a record into the zone its owner belongs to.
		rr := func(owner, format string, args ...any) {
			fmt.Fprintf(zoneOf(owner), "%s.\tIN\t"+format+"\n", append([]any{owner}, args...)...)
		}
		host := c.mx()
		pref := 10
		if c.bogusMX {
			pref = bogusPreference
		}
		rr(c.domain, "MX\t%d %s.", pref, host)
		if id := ids[c.domain]; id != "" {
			rr("_mta-sts."+c.domain, "TXT\t\"v=STSv1; id=%s\"", id)
			rr("mta-sts."+c.domain, "A\t%s", w.IP())
		}
		ip, _, _ := net.SplitHostPort(addrs[host])
		if c.alias != "" {
			rr(host, "CNAME\t%s.", c.alias)
			host = c.alias
		}
		rr(host, "A\t%s", ip)
		tlsaName := "_25._tcp." + host
		if c.wildcard {
			tlsaName = "*._tcp." + host
		}
		if c.tlsaAt != "" {
			rr(tlsaName, "CNAME\t%s.", c.tlsaAt)
			tlsaName = c.tlsaAt
		}
		if c.tlsa != nil {
			for _, r := range c.tlsa(t, w, host) {
				rr(tlsaName, "TLSA\t%s", r)
			}
		}
		if c.bogus {
			rr(tlsaName, "TLSA\t3 1 1 %s", bogusData)
		}
		if c.nodata {
			rr(tlsaName, "TXT\t\"not a TLSA record\"")
		}
	}
	return []signedZone{
		{origin: "test.", text: top.String(), anchor: true, tamper: func(s string) string {
			// The record keeps its signature, made over other data.
			s = strings.ReplaceAll(s, bogusData, strings.Repeat("cd", 32))
			return strings.ReplaceAll(s, fmt.Sprintf("\tMX\t%d ", bogusPreference), "\tMX\t99 ")
		}},
		{origin: "insecure.test.", text: insecure.String(), unsigned: true},
		{origin: "expired.test.", text: expired.String(), expired: true},
	}
}

// TestDANE checks the DANE verdict of the resolver (resolver.Options.DNSSEC)
// against Unbound validating zones that NSD serves, signed by ldnsutils,
// each case ending in a real STARTTLS handshake with the MX host.
func TestDANE(t *testing.T) {
	start := time.Now()
	w := testserver.Start(t)
	cases := daneCases()
	ids, addrs := map[string]string{}, map[string]string{}
	for _, c := range cases {
		if c.chain {
			addrs[c.mx()] = startChainMX(t, w, c.mx())
		} else {
			addr, err := w.AddSMTPHost(c.mx())
			if err != nil {
				t.Fatal(err)
			}
			addrs[c.mx()] = addr
		}
		if c.mode == "" {
			continue
		}
		mx := c.mxPattern
		if mx == "" {
			mx = c.mx()
		}
		id, err := w.AddDomain(c.domain, testserver.Policy{Mode: c.mode, MX: []string{mx}, MaxAge: 86400})
		if err != nil {
			t.Fatal(err)
		}
		ids[c.domain] = id
	}
	dnsw := startSignedDNS(t, daneNSD, daneUnbound, daneZones(t, w, cases, ids, addrs)...)
	t.Logf("zones signed and servers up in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(dnsw.logs())
		}
	})

	r, err := resolver.New(resolver.Options{DNS: []string{dnsw.unbound}, DNSSEC: true,
		RootCAs: w.RootCAs(), HTTPSPort: w.HTTPSPort(), FetchTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	t.Run("servers", func(t *testing.T) { testDANEServers(t, dnsw) })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkDANE(t, addrs[c.mx()], r, c) })
	}
}

// checkDANE checks the decision for c, the DANE status alone, and the
// STARTTLS handshake configured by the decision.
func checkDANE(t *testing.T, addr string, r *resolver.Resolver, c daneCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mx := c.mx()
	d, err := r.Check(ctx, c.domain, mx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if d.DANEStatus != c.status || d.Action != c.action || d.RequireTLS != c.requireTLS || d.Result != c.result {
		t.Fatalf("Check = %v (dane %v, require_tls %v, result %q, why %q);\nwant dane %v, %v, require_tls %v, result %q",
			d, d.DANEStatus, d.RequireTLS, d.Result, d.DANEWhy(), c.status, c.action, c.requireTLS, c.result)
	}
	if c.mode != "" && c.mode != "none" && d.Mode.String() != c.mode {
		t.Errorf("Check mode %v; want the policy's %s (fetched beside DANE)", d.Mode, c.mode)
	}
	st, set, err := r.DANE(ctx, c.domain, mx)
	if st != c.status {
		t.Errorf("DANE = %v, %v, %v; want %v", st, set, err, c.status)
	}
	if c.status == resolver.DANEBogus && validate.ResultOf(err) != validate.ResultDNSSECInvalid {
		t.Errorf("DANE error %v; want dnssec-invalid", err)
	}
	if c.status == resolver.DANEBogus {
		// The failed lookup, and Unbound's Extended DNS Error, in the error.
		var de *dnsclient.Error
		ede := false
		for _, code := range c.ede {
			ede = ede || strings.Contains(d.Err.Error(), fmt.Sprintf("extended error %d,", code))
		}
		if !errors.As(d.Err, &de) || de.Type != c.bogusType || !dnsclient.IsBogus(d.Err) || !ede {
			t.Errorf("Decision.Err %v; want the bogus %s lookup with extended error in %v", d.Err, c.bogusType, c.ede)
		}
	}
	if (c.status == resolver.DANENone) != (d.DANEWhy() != "") {
		t.Errorf("DANEWhy %q with status %v", d.DANEWhy(), d.DANEStatus)
	}
	if d.Action == resolver.Refuse {
		return // not this MX: no connection
	}
	if (c.status == resolver.DANESecure || c.status == resolver.DANEUnusable) != (d.DANE != nil) {
		t.Errorf("Decision.DANE = %v with status %v", d.DANE, d.DANEStatus)
	}

	var reports []error
	base := &tls.Config{}
	if d.Action == resolver.DeliverWithoutSTS {
		base.InsecureSkipVerify = true // opportunistic TLS (RFC 7435)
	}
	cfg := d.TLSConfigReport(base, func(err error) { reports = append(reports, err) })
	serverName, err := starttls(ctx, addr, mx, cfg)
	if got := validate.ResultOf(err); err != nil && got == "" || got != c.handshake {
		t.Errorf("handshake: %v (result %q); want result %q", err, got, c.handshake)
	}
	sni := mx
	if c.alias != "" && d.DANE != nil {
		sni = c.alias // the TLSA base domain; MTA-STS names the MX host
	}
	if d.DANE != nil && d.DANE.Base() != sni {
		t.Errorf("TLSA base domain %q; want %q", d.DANE.Base(), sni)
	}
	if err == nil && serverName != sni {
		t.Errorf("SNI %q; want %q", serverName, sni)
	}
	switch {
	case c.reported == "none":
		if len(reports) != 0 {
			t.Errorf("reported %v; want no report", reports)
		}
	case len(reports) != 1:
		t.Errorf("reported %v; want one report of %q", reports, c.reported)
	case validate.ResultOf(reports[0]) != c.reported:
		t.Errorf("reported %v; want %q", reports[0], c.reported)
	}
}

// starttls opens an SMTP session with the server of host at addr, says
// EHLO and STARTTLS with cfg, and returns the SNI sent.
func starttls(ctx context.Context, addr, host string, cfg *tls.Config) (string, error) {
	d := net.Dialer{Timeout: handshakeTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return "", err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return "", err
	}
	if err := c.StartTLS(cfg); err != nil {
		return "", err
	}
	st, ok := c.TLSConnectionState()
	if !ok {
		return "", errors.New("no TLS after STARTTLS")
	}
	c.Quit()
	return st.ServerName, nil
}

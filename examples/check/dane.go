package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/dane"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

// tlsProbe is what the STARTTLS dialogue with one MX host found, kept for
// the DANE checks.
type tlsProbe struct {
	chain     []*x509.Certificate // the certificates presented, leaf first
	tlsFailed bool                // no STARTTLS, or the handshake failed
}

// checkDANEMX looks up, once per domain, whether the MX RRset is
// DNSSEC-signed (RFC 7672 section 2.2.1: without it DANE does not apply to
// any MX host), and reports whether the per-host DANE checks should run.
func (c *checker) checkDANEMX(ctx context.Context) bool {
	const check = "dane"
	a, err := c.dns.WithDNSSEC().LookupSecure(ctx, c.domain, dns.TypeMX)
	switch {
	case err != nil:
		return true // each host's lookup fails the same way: dane-bogus says so per host
	case !a.Secure:
		c.add("dane-insecure-mx", check, sevInfo, c.domain,
			"the MX records are not DNSSEC-signed (or the -dns server does not validate): DANE does not apply, MTA-STS alone protects the domain", "")
		return false
	}
	return true
}

// checkDANE reports what DANE (RFC 7672) says of MX host mx, as senders that
// validate DNSSEC see it, against the certificate found over STARTTLS
// (probe, nil when the dialogue was skipped), and where DANE and MTA-STS
// disagree: sts says whether a policy applies (testing or enforce) and
// stsBad whether the host failed it. DANE wins for senders that do both
// (RFC 8461 section 2). It reports whether senders that validate DNSSEC
// refuse the host.
func (c *checker) checkDANE(ctx context.Context, mx string, probe *tlsProbe, sts, stsBad bool) (refused bool) {
	stsOK := sts && !stsBad
	const check = "dane"
	st, set, err := c.res.DANE(ctx, c.domain, mx)
	if err != nil && st != resolver.DANEBogus {
		c.add("dane-bogus", check, sevError, mx, "DANE lookup: "+err.Error(), "")
		return true
	}
	switch st {
	case resolver.DANEBogus:
		c.add("dane-bogus", check, sevError, mx, detailOf(err)+
			": senders that validate DNSSEC will not deliver to this MX (RFC 7672), whatever MTA-STS says", validate.ResultDNSSECInvalid)
		if stsOK {
			c.conflict(mx, "MTA-STS accepts this MX but its DNSSEC lookups fail: senders that do both skip it")
		}
		return true
	case resolver.DANENone:
		c.add("dane-none", check, sevInfo, mx, c.daneWhy(ctx, mx)+": DANE does not apply, MTA-STS alone decides", "")
		return false
	case resolver.DANEUnusable:
		var why []string
		for _, ig := range set.Ignored() {
			why = append(why, fmt.Sprintf("%q: %v", recordText(ig.Record), ig.Err))
		}
		c.add("dane-unusable", check, sevWarning, mx, "DNSSEC-validated TLSA records, none usable for SMTP ("+join(why)+
			"): senders that validate require TLS but cannot authenticate the server; publish DANE-EE(3) or DANE-TA(2) records", validate.ResultTLSAInvalid)
	case resolver.DANESecure:
		var recs []string
		for _, r := range set.Usable() {
			recs = append(recs, recordText(r))
		}
		c.add("dane-secure", check, sevInfo, mx, "usable TLSA records at _25._tcp."+set.Base()+": "+join(recs), "")
	}
	if probe == nil {
		return false
	}
	if probe.tlsFailed {
		c.add("dane-no-tls", check, sevError, mx,
			"the host has DNSSEC-validated TLSA records, which make TLS mandatory, but STARTTLS failed: senders that validate will not deliver to it", "")
		return true
	}
	if st != resolver.DANESecure || len(probe.chain) == 0 {
		return false // or the host could not be reached: the mx findings say why
	}
	var names []string
	if set.Base() != mx {
		names = []string{mx} // a secure CNAME led to another base domain
	}
	if err := set.Verify(probe.chain, names, c.now); err != nil {
		c.add("dane-mismatch", check, sevError, mx, "STARTTLS certificate: "+reasonOf(err)+
			": senders that validate will not deliver to this MX", validate.ResultOf(err)).setExpires(probe.chain)
		if stsOK {
			c.conflict(mx, "MTA-STS accepts this MX but DANE rejects its certificate: senders that do both follow DANE and refuse it")
		}
		return true
	}
	c.add("dane-ok", check, sevInfo, mx, "the STARTTLS certificate matches a usable TLSA record", "")
	if sts && stsBad {
		c.conflict(mx, "DANE authenticates this MX but MTA-STS does not accept it: senders that do both follow DANE and deliver; senders that do only MTA-STS do not")
	}
	return false
}

// conflict reports that DANE and MTA-STS disagree about mx.
func (c *checker) conflict(mx, msg string) {
	c.add("dane-sts-conflict", "dane", sevInfo, mx, msg+" (DANE takes precedence, RFC 8461 section 2)", "")
}

// daneWhy says why DANE does not apply to mx, as the resolver decided.
func (c *checker) daneWhy(ctx context.Context, mx string) string {
	d, err := c.res.Check(ctx, c.domain, mx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		if why := d.DANEWhy(); why != "" {
			return why
		}
	}
	return "no DNSSEC-validated TLSA records"
}

// detailOf is a validation error with its cause, without the host and the
// result type, which the finding carries.
func detailOf(err error) string {
	var ve *validate.Error
	if errors.As(err, &ve) && ve.Err != nil {
		return ve.Err.Error()
	}
	return err.Error()
}

// recordText is r in presentation form, with the data of a whole
// certificate or key ("2 0 0", "3 1 0") cut to its ends and its length:
// digests, up to SHA2-512, are shown whole.
func recordText(r dane.Record) string {
	s := r.String()
	if len(r.Data) <= 64 {
		return s
	}
	i := strings.LastIndexByte(s, ' ') + 1
	return fmt.Sprintf("%s...%s (%d bytes)", s[:i+16], s[len(s)-16:], len(r.Data))
}

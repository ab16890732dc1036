package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/smtpc"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

// expirySoon is when a certificate's coming expiry becomes a warning.
const expirySoon = 14 * 24 * time.Hour

// checker runs the checks of one domain and collects the findings.
type checker struct {
	domain    string
	dns       *dnsclient.Client
	res       *resolver.Resolver
	roots     *x509.CertPool // nil: the system's
	httpsPort int
	dial      *smtpc.Dialer
	noSMTP    bool // skip the SMTP dialogues (port 25)
	dane      bool // -dane: the DNS servers validate DNSSEC; check DANE too
	now       time.Time

	findings  []finding
	unchecked bool           // the DNS could not be asked: nothing was checked
	record    bool           // a valid STSv1 record was found
	policy    *policy.Policy // the policy in effect, if any
}

func (c *checker) add(code, check, sev, subject, msg string, result validate.ResultType) *finding {
	c.findings = append(c.findings, finding{Code: code, Check: check, Severity: sev, Subject: subject, Message: msg, Result: result})
	return &c.findings[len(c.findings)-1]
}

func (c *checker) run(ctx context.Context) {
	if !c.checkDomain(ctx) {
		return
	}
	c.checkRecord(ctx)
	if c.record {
		c.checkPolicyHost(ctx)
		c.checkPolicy(ctx)
	}
	c.checkMX(ctx)
	c.checkTLSRPT(ctx)
}

// checkDomain asks the DNS whether the domain exists, and reports whether
// the other checks can run.
func (c *checker) checkDomain(ctx context.Context) bool {
	const check = "dns"
	switch st, err := probe(ctx, c.dns.Servers(), c.domain); st {
	case unreachable:
		c.unchecked = true
		c.add("dns-unreachable", check, sevError, c.domain,
			fmt.Sprintf("no DNS server answered (%v): nothing could be checked", err), "")
		return false
	case nxdomain:
		c.add("domain-not-found", check, sevError, c.domain,
			"the domain does not exist (NXDOMAIN): check its spelling and its delegation", "")
		return false
	case servfail:
		c.add("dns-servfail", check, sevError, c.domain,
			"the DNS answers SERVFAIL for the domain: senders cannot look it up, and defer its mail", "")
	}
	return true
}

// checkRecord looks at the TXT records of _mta-sts.<domain>.
func (c *checker) checkRecord(ctx context.Context) {
	const check = "record"
	name := "_mta-sts." + c.domain
	txts, err := c.dns.TXT(ctx, name)
	if err != nil {
		c.add("record-lookup-failed", check, sevError, name, err.Error()+": senders defer mail while nothing is cached", "")
		return
	}
	var sts []string
	for _, t := range txts {
		if policy.IsSTS(t) {
			sts = append(sts, t)
		} else {
			c.add("record-not-sts", check, sevWarning, name, fmt.Sprintf("%q is not an STSv1 record; senders ignore it", t), "")
		}
	}
	if len(sts) == 0 {
		c.add("record-missing", check, sevError, name, "no v=STSv1 TXT record: the domain does not publish MTA-STS", "")
		return
	}
	rec, err := policy.ParseTXT(txts)
	switch {
	case errors.Is(err, policy.ErrMultipleRecords):
		c.add("record-multiple", check, sevError, name, fmt.Sprintf("%d STSv1 records: senders treat the domain as having no policy (RFC 8461 section 3.1)", len(sts)), "")
		return
	case err != nil:
		c.add("record-invalid", check, sevError, name, fmt.Sprintf("%q: %v: senders treat the domain as having no policy", sts[0], err), "")
		return
	}
	c.record = true
	c.add("record-found", check, sevInfo, name, rec.String(), "")
	for _, e := range rec.Extensions {
		c.add("record-unknown-field", check, sevWarning, name, fmt.Sprintf("field %q is not defined by RFC 8461; senders ignore it", e.Key), "")
	}
}

// checkPolicyHost looks at the HTTPS certificate of mta-sts.<domain>.
func (c *checker) checkPolicyHost(ctx context.Context) {
	const check = "policy-host"
	host := "mta-sts." + c.domain
	addrs, err := c.dns.AllAddrs(ctx, host)
	if err != nil {
		c.add("policy-host-lookup-failed", check, sevError, host, err.Error(), validate.ResultSTSPolicyFetchError)
		return
	}
	if len(addrs) == 0 {
		c.add("policy-host-no-address", check, sevError, host, "no A or AAAA record: senders cannot fetch the policy", validate.ResultSTSPolicyFetchError)
		return
	}
	addr := net.JoinHostPort(addrs[0].String(), strconv.Itoa(c.policyPort()))
	d := tls.Dialer{Config: &tls.Config{ServerName: host, InsecureSkipVerify: true}} // verified below, to say why
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		c.add("policy-host-unreachable", check, sevError, host, fmt.Sprintf("HTTPS to %s: %v", addr, err), validate.ResultSTSPolicyFetchError)
		return
	}
	cs := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	if err := validate.Certificate(host, cs.PeerCertificates, c.roots, c.now); err != nil {
		f := c.add("policy-host-cert-invalid", check, sevError, host, reasonOf(err)+": senders cannot trust the policy", validate.ResultSTSWebPKIInvalid)
		f.setExpires(cs.PeerCertificates)
		return
	}
	c.certInfo(check, host, cs.PeerCertificates[0])
}

func (c *checker) policyPort() int {
	if c.httpsPort != 0 {
		return c.httpsPort
	}
	return 443
}

// certInfo reports a valid certificate, with a warning when it expires
// soon.
func (c *checker) certInfo(check, host string, leaf *x509.Certificate) {
	left := leaf.NotAfter.Sub(c.now)
	msg := fmt.Sprintf("certificate valid for %s until %s (%s), issued by %q",
		join(leaf.DNSNames), leaf.NotAfter.UTC().Format(time.DateOnly), days(left), leaf.Issuer.CommonName)
	c.add("cert-valid", check, sevInfo, host, msg, "").Expires = leaf.NotAfter.UTC()
	if left < expirySoon {
		c.add("cert-expires-soon", check, sevWarning, host, "certificate expires in "+days(left)+": renew it", "").Expires = leaf.NotAfter.UTC()
	}
}

// checkPolicy fetches the policy as a sender does and lints it.
func (c *checker) checkPolicy(ctx context.Context) {
	const check = "policy"
	url := "https://mta-sts." + c.domain + policyPath
	e, err := c.res.Lookup(ctx, c.domain)
	var fe *resolver.FetchError
	switch {
	case errors.As(err, &fe) && fe.Kind == resolver.FetchInvalid:
		c.add("policy-invalid", check, sevError, url, fmt.Sprintf("%v: senders deliver as if there were no policy", err), fe.Result())
		body, ferr := c.fetchBody(ctx)
		if ferr != nil {
			return
		}
		for _, h := range policyHints(body, err) {
			c.add(h.code, check, sevInfo, url, "fix: "+h.msg, "").Line = h.line
		}
		return
	case errors.As(err, &fe):
		c.add("policy-fetch-failed", check, sevError, url, fmt.Sprintf("%v: senders deliver as if there were no policy", err), fe.Result())
		return
	case err != nil:
		c.add("policy-lookup-failed", check, sevError, url, err.Error(), "")
		return
	case e == nil || e.Policy == nil:
		c.add("policy-missing", check, sevError, url, "no policy found", "")
		return
	}
	p := e.Policy
	c.policy = p
	c.add("policy-found", check, sevInfo, url, fmt.Sprintf("mode %s, max_age %d (%s), mx %s; cached by senders until %s",
		p.Mode, p.MaxAge, days(p.MaxAgeDuration()), orNone(join(p.MX)), e.Expires.UTC().Format(time.DateOnly)), "").Expires = e.Expires.UTC()
	for _, w := range e.Warnings {
		c.add("policy-warning", check, sevWarning, url, w.String(), "")
	}
	switch p.Mode {
	case policy.ModeTesting:
		c.add("policy-mode-testing", check, sevInfo, url, "mode testing: senders report failures but still deliver; switch to enforce once reports are clean", "")
	case policy.ModeNone:
		c.add("policy-mode-none", check, sevWarning, url, "mode none: senders apply no policy (fine while retiring MTA-STS, RFC 8461 section 8.3)", "")
	}
	if p.MaxAge < 86400 {
		c.add("policy-max-age-short", check, sevWarning, url, fmt.Sprintf("max_age %d is under a day: RFC 8461 recommends weeks or more, so that a cached policy outlives an attack", p.MaxAge), "")
	}
}

// reasonOf is the reason of a validation error, without the host.
func reasonOf(err error) string {
	var ve *validate.Error
	if errors.As(err, &ve) {
		return ve.Reason()
	}
	return err.Error()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/smtpc"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/tlsrpt"
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
	now       time.Time

	findings []finding
	record   bool           // a valid STSv1 record was found
	policy   *policy.Policy // the policy in effect, if any
}

func (c *checker) add(check, sev, subject, msg string, result validate.ResultType) {
	c.findings = append(c.findings, finding{Check: check, Severity: sev, Subject: subject, Message: msg, Result: result})
}

func (c *checker) run(ctx context.Context) {
	c.checkRecord(ctx)
	if c.record {
		c.checkPolicyHost(ctx)
		c.checkPolicy(ctx)
	}
	c.checkMX(ctx)
	c.checkTLSRPT(ctx)
}

// checkRecord looks at the TXT records of _mta-sts.<domain>.
func (c *checker) checkRecord(ctx context.Context) {
	const check = "record"
	name := "_mta-sts." + c.domain
	txts, err := c.dns.TXT(ctx, name)
	if err != nil {
		c.add(check, sevError, name, err.Error(), "")
		return
	}
	var sts []string
	for _, t := range txts {
		if policy.IsSTS(t) {
			sts = append(sts, t)
		} else {
			c.add(check, sevWarning, name, fmt.Sprintf("%q is not an STSv1 record; senders ignore it", t), "")
		}
	}
	if len(sts) == 0 {
		c.add(check, sevError, name, "no v=STSv1 TXT record: the domain does not publish MTA-STS", "")
		return
	}
	rec, err := policy.ParseTXT(txts)
	switch {
	case errors.Is(err, policy.ErrMultipleRecords):
		c.add(check, sevError, name, fmt.Sprintf("%d STSv1 records: senders treat the domain as having no policy (RFC 8461 section 3.1)", len(sts)), "")
		return
	case err != nil:
		c.add(check, sevError, name, fmt.Sprintf("%q: %v: senders treat the domain as having no policy", sts[0], err), "")
		return
	}
	c.record = true
	c.add(check, sevInfo, name, rec.String(), "")
	for _, e := range rec.Extensions {
		c.add(check, sevWarning, name, fmt.Sprintf("field %q is not defined by RFC 8461; senders ignore it", e.Key), "")
	}
}

// checkPolicyHost looks at the HTTPS certificate of mta-sts.<domain>.
func (c *checker) checkPolicyHost(ctx context.Context) {
	const check = "policy-host"
	host := "mta-sts." + c.domain
	addrs, err := c.dns.AllAddrs(ctx, host)
	if err != nil {
		c.add(check, sevError, host, err.Error(), validate.ResultSTSPolicyFetchError)
		return
	}
	if len(addrs) == 0 {
		c.add(check, sevError, host, "no A or AAAA record: senders cannot fetch the policy", validate.ResultSTSPolicyFetchError)
		return
	}
	port := 443
	if c.httpsPort != 0 {
		port = c.httpsPort
	}
	addr := net.JoinHostPort(addrs[0].String(), strconv.Itoa(port))
	d := tls.Dialer{Config: &tls.Config{ServerName: host, InsecureSkipVerify: true}} // verified below, to say why
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		c.add(check, sevError, host, fmt.Sprintf("HTTPS to %s: %v", addr, err), validate.ResultSTSPolicyFetchError)
		return
	}
	cs := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	if err := validate.Certificate(host, cs.PeerCertificates, c.roots, c.now); err != nil {
		var ve *validate.Error
		msg := err.Error()
		if errors.As(err, &ve) {
			msg = ve.Reason()
		}
		c.add(check, sevError, host, msg+": senders cannot trust the policy", validate.ResultSTSWebPKIInvalid)
		return
	}
	c.certInfo(check, host, cs.PeerCertificates[0])
}

// certInfo reports a valid certificate, with a warning when it expires
// soon.
func (c *checker) certInfo(check, host string, leaf *x509.Certificate) {
	left := leaf.NotAfter.Sub(c.now)
	msg := fmt.Sprintf("certificate valid for %s until %s (%s), issued by %q",
		join(leaf.DNSNames), leaf.NotAfter.UTC().Format(time.DateOnly), days(left), leaf.Issuer.CommonName)
	c.add(check, sevInfo, host, msg, "")
	if left < expirySoon {
		c.add(check, sevWarning, host, "certificate expires in "+days(left)+": renew it", "")
	}
}

// checkPolicy fetches the policy as a sender does and lints it.
func (c *checker) checkPolicy(ctx context.Context) {
	const check = "policy"
	url := "https://mta-sts." + c.domain + "/.well-known/mta-sts.txt"
	e, err := c.res.Lookup(ctx, c.domain)
	var fe *resolver.FetchError
	switch {
	case errors.As(err, &fe):
		c.add(check, sevError, url, fmt.Sprintf("%v: senders deliver as if there were no policy", err), fe.Result())
		return
	case err != nil:
		c.add(check, sevError, url, err.Error(), "")
		return
	case e == nil || e.Policy == nil:
		c.add(check, sevError, url, "no policy found", "")
		return
	}
	p := e.Policy
	c.policy = p
	c.add(check, sevInfo, url, fmt.Sprintf("mode %s, max_age %d (%s), mx %s", p.Mode, p.MaxAge,
		days(p.MaxAgeDuration()), orNone(join(p.MX))), "")
	for _, w := range e.Warnings {
		c.add(check, sevWarning, "", w.String(), "")
	}
	switch p.Mode {
	case policy.ModeTesting:
		c.add(check, sevInfo, "", "mode testing: senders report failures but still deliver; switch to enforce once reports are clean", "")
	case policy.ModeNone:
		c.add(check, sevWarning, "", "mode none: senders apply no policy (fine while retiring MTA-STS, RFC 8461 section 8.3)", "")
	}
	if p.MaxAge < 86400 {
		c.add(check, sevWarning, "", fmt.Sprintf("max_age %d is under a day: RFC 8461 recommends weeks or more, so that a cached policy outlives an attack", p.MaxAge), "")
	}
}

// checkMX checks every MX host against the policy and over SMTP.
func (c *checker) checkMX(ctx context.Context) {
	const check = "mx"
	mxs, err := c.dns.MX(ctx, c.domain)
	if err != nil {
		c.add(check, sevError, c.domain, err.Error(), "")
		return
	}
	if len(mxs) == 1 && mxs[0].Host == "" {
		c.add(check, sevInfo, c.domain, "null MX (RFC 7505): the domain accepts no mail", "")
		return
	}
	if len(mxs) == 0 {
		c.add(check, sevWarning, c.domain, "no MX records: senders deliver to the domain itself (implicit MX)", "")
		mxs = []dnsclient.MX{{Host: c.domain}}
	}
	enforced := c.policy != nil && c.policy.Mode != policy.ModeNone
	for _, mx := range mxs {
		if mx.Host == "" {
			c.add(check, sevError, c.domain, "a null MX among other MX records (RFC 7505 section 3)", "")
			continue
		}
		if enforced {
			if err := validate.MX(c.policy, mx.Host); err != nil {
				sev, what := sevError, "senders refuse to deliver to it"
				if c.policy.Mode == policy.ModeTesting {
					sev, what = sevWarning, "senders report it, and will refuse it under enforce"
				}
				c.add(check, sev, mx.Host, "matches no mx pattern of the policy: "+what, validate.ResultValidationFailure)
			}
		}
		c.checkSTARTTLS(ctx, mx, enforced)
	}
	if c.policy != nil {
		for _, pat := range c.policy.MX {
			used := false
			for _, mx := range mxs {
				used = used || validate.MatchMX(pat, mx.Host)
			}
			if !used {
				c.add(check, sevInfo, pat, "policy pattern matches no MX host", "")
			}
		}
	}
}

// checkSTARTTLS has an SMTP dialogue with the MX host up to STARTTLS and
// checks the certificate it presents.
func (c *checker) checkSTARTTLS(ctx context.Context, mx dnsclient.MX, enforced bool) {
	const check = "mx"
	fail := func(msg string, result validate.ResultType) {
		sev := sevWarning
		if enforced {
			sev = sevError
		} else {
			msg += " (would fail under an MTA-STS policy)"
		}
		c.add(check, sev, mx.Host, msg, result)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := c.dial.Dial(ctx, mx.Host)
	if err != nil {
		fail("cannot connect: "+err.Error(), "")
		return
	}
	sc, err := smtpc.NewClient(ctx, conn, "mtasts-check.invalid")
	if err != nil {
		fail("SMTP: "+err.Error(), "")
		return
	}
	defer sc.Close()
	// Accept any version and certificate here, so that the check can say
	// what is wrong rather than only that the handshake failed.
	err = sc.StartTLS(ctx, &tls.Config{ServerName: mx.Host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10})
	switch {
	case errors.Is(err, smtpc.ErrNoSTARTTLS):
		fail(err.Error(), validate.ResultStartTLSNotSupported)
		return
	case err != nil:
		fail("TLS handshake: "+err.Error(), validate.ResultValidationFailure)
		return
	}
	cs := sc.TLS()
	sc.Quit()
	if cs.Version < tls.VersionTLS12 {
		fail(tls.VersionName(cs.Version)+": RFC 8461 requires TLS 1.2 or later", validate.ResultValidationFailure)
		return
	}
	if err := validate.Certificate(mx.Host, cs.PeerCertificates, c.roots, c.now); err != nil {
		var ve *validate.Error
		msg := err.Error()
		if errors.As(err, &ve) {
			msg = ve.Reason()
		}
		fail("STARTTLS certificate: "+msg, validate.ResultOf(err))
		return
	}
	leaf := cs.PeerCertificates[0]
	left := leaf.NotAfter.Sub(c.now)
	c.add(check, sevInfo, mx.Host, fmt.Sprintf("preference %d, STARTTLS with %s, certificate valid until %s (%s)",
		mx.Pref, tls.VersionName(cs.Version), leaf.NotAfter.UTC().Format(time.DateOnly), days(left)), "")
	if left < expirySoon {
		c.add(check, sevWarning, mx.Host, "certificate expires in "+days(left)+": renew it", "")
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// checkTLSRPT looks at the TLS reporting record, _smtp._tls.<domain>.
func (c *checker) checkTLSRPT(ctx context.Context) {
	const check = "tlsrpt"
	name := "_smtp._tls." + c.domain
	txts, err := c.dns.TXT(ctx, name)
	if err != nil {
		c.add(check, sevError, name, err.Error(), "")
		return
	}
	var recs []string
	for _, t := range txts {
		switch {
		case tlsrpt.IsTLSRPT(t):
			recs = append(recs, t)
		case strings.HasPrefix(strings.ToLower(t), "v=tlsrpt"):
			c.add(check, sevWarning, name, fmt.Sprintf("%q is not a TLSRPTv1 record (it must begin with %s;); senders ignore it", t, tlsrpt.Version), "")
		}
	}
	rec, err := tlsrpt.ParseTXT(txts)
	switch {
	case len(recs) == 0:
		c.add(check, sevWarning, name, "no v=TLSRPTv1 record: senders cannot tell you when TLS to your MX hosts fails", "")
		return
	case errors.Is(err, tlsrpt.ErrMultipleRecords):
		c.add(check, sevError, name, fmt.Sprintf("%d TLSRPTv1 records: senders ignore them all (RFC 8460 section 3)", len(recs)), "")
		return
	}
	for _, f := range tlsrptNotes(recs[0], rec, err) {
		c.add(check, f.sev, name, f.msg, "")
	}
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/smtpc"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

// checkMX checks every MX host against the policy and over SMTP.
func (c *checker) checkMX(ctx context.Context) {
	const check = "mx"
	mxs, err := c.dns.MX(ctx, c.domain)
	if errors.Is(err, dnsclient.ErrBadName) {
		// The records that name a host are returned with the error: a
		// sender skips the bad one (as net.LookupMX does) and uses them.
		if len(mxs) == 0 {
			c.add("mx-bad-name", check, sevError, c.domain, badNameReason(err)+
				": it is the only MX target, and senders can deliver the domain's mail nowhere (no implicit MX either)", "")
			return
		}
		c.add("mx-bad-name", check, sevWarning, c.domain, badNameReason(err)+": senders skip that MX record and use the others", "")
		err = nil
	}
	if err != nil {
		c.add("mx-lookup-failed", check, sevError, c.domain, err.Error()+": senders defer the domain's mail", "")
		return
	}
	if len(mxs) == 1 && mxs[0].Host == "" {
		c.add("mx-null", check, sevInfo, c.domain, "null MX (RFC 7505): the domain accepts no mail", "")
		return
	}
	if len(mxs) == 0 {
		c.add("mx-implicit", check, sevWarning, c.domain, "no MX records: senders deliver to the domain itself (implicit MX)", "")
		mxs = []dnsclient.MX{{Host: c.domain}}
	}
	enforced := c.policy != nil && c.policy.Mode != policy.ModeNone
	if c.noSMTP {
		c.add("mx-smtp-skipped", check, sevInfo, c.domain, "-no-smtp: STARTTLS and the certificates of the MX hosts were not checked", "")
	}
	doDANE := c.dane && c.checkDANEMX(ctx)
	failed, hosts, daneRefused := 0, 0, 0
	for _, mx := range mxs {
		if mx.Host == "" {
			c.add("mx-null-among-others", check, sevError, c.domain, "a null MX among other MX records (RFC 7505 section 3)", "")
			continue
		}
		hosts++
		bad := false
		if enforced {
			if err := validate.MX(c.policy, mx.Host); err != nil {
				sev, what := sevError, "senders refuse to deliver to it"
				if c.policy.Mode == policy.ModeTesting {
					sev, what = sevWarning, "senders report it, and will refuse it under enforce"
				}
				c.add("mx-mismatch", check, sev, mx.Host, "matches no mx pattern of the policy: "+what, validate.ResultValidationFailure)
				bad = true
			}
		}
		var probe *tlsProbe
		if !c.noSMTP {
			probe = &tlsProbe{}
			if !c.checkSTARTTLS(ctx, mx, enforced, probe) {
				bad = true
			}
		}
		if doDANE && c.checkDANE(ctx, mx.Host, probe, enforced, bad) {
			daneRefused++
		}
		if bad {
			failed++
		}
	}
	if c.policy != nil {
		for _, pat := range c.policy.MX {
			used := false
			for _, mx := range mxs {
				used = used || validate.MatchMX(pat, mx.Host)
			}
			if !used {
				c.add("mx-pattern-unused", check, sevInfo, pat, "policy pattern matches no MX host", "")
			}
		}
	}
	if hosts > 0 && daneRefused == hosts {
		c.add("dane-all-fail", "dane", sevError, c.domain,
			"every MX host fails DANE: senders that validate DNSSEC will defer all your mail, whatever MTA-STS says", "")
	}
	if hosts > 0 && failed == hosts && enforced {
		if c.policy.Mode == policy.ModeEnforce {
			c.add("mx-all-fail", check, sevError, c.domain,
				"every MX host fails the enforce policy: senders will defer all your mail, and return it once their retries run out", "")
		} else {
			c.add("mx-all-fail-testing", check, sevWarning, c.domain,
				"every MX host fails the policy: senders deliver anyway under testing, but under enforce they would defer all your mail", "")
		}
	}
}

// badNameReason says which MX target of a lookup that failed with
// dnsclient.ErrBadName is no host name.
func badNameReason(err error) string {
	var de *dnsclient.Error
	if errors.As(err, &de) {
		err = de.Err
	}
	return "an MX target is " + err.Error()
}

// checkSTARTTLS has an SMTP dialogue with the MX host up to STARTTLS and
// checks the certificate it presents, which it keeps in probe with whether
// TLS failed, for the DANE checks. It reports whether the host passed.
func (c *checker) checkSTARTTLS(ctx context.Context, mx dnsclient.MX, enforced bool, probe *tlsProbe) bool {
	const check = "mx"
	fail := func(code, msg string, result validate.ResultType) *finding {
		sev := sevWarning
		if enforced {
			sev = sevError
		} else {
			msg += " (would fail under an MTA-STS policy)"
		}
		return c.add(code, check, sev, mx.Host, msg, result)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := c.dial.Dial(ctx, mx.Host)
	if err != nil {
		fail("mx-unreachable", "cannot connect: "+err.Error(), "")
		return false
	}
	sc, err := smtpc.NewClient(ctx, conn, "mtasts-check.invalid")
	if err != nil {
		fail("mx-smtp-failed", "SMTP: "+err.Error(), "")
		return false
	}
	defer sc.Close()
	// Accept any version and certificate here, so that the check can say
	// what is wrong rather than only that the handshake failed.
	err = sc.StartTLS(ctx, &tls.Config{ServerName: mx.Host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10})
	switch {
	case errors.Is(err, smtpc.ErrNoSTARTTLS):
		probe.tlsFailed = true
		fail("mx-no-starttls", err.Error(), validate.ResultStartTLSNotSupported)
		return false
	case err != nil:
		probe.tlsFailed = true
		fail("mx-tls-failed", "TLS handshake: "+err.Error(), validate.ResultValidationFailure)
		return false
	}
	cs := sc.TLS()
	sc.Quit()
	probe.chain = cs.PeerCertificates
	if cs.Version < tls.VersionTLS12 {
		fail("mx-tls-old", tls.VersionName(cs.Version)+": RFC 8461 requires TLS 1.2 or later", validate.ResultValidationFailure)
		return false
	}
	if err := validate.Certificate(mx.Host, cs.PeerCertificates, c.roots, c.now); err != nil {
		fail("mx-cert-invalid", "STARTTLS certificate: "+reasonOf(err), validate.ResultOf(err)).setExpires(cs.PeerCertificates)
		return false
	}
	leaf := cs.PeerCertificates[0]
	left := leaf.NotAfter.Sub(c.now)
	c.add("mx-ok", check, sevInfo, mx.Host, fmt.Sprintf("preference %d, STARTTLS with %s, certificate valid until %s (%s)",
		mx.Pref, tls.VersionName(cs.Version), leaf.NotAfter.UTC().Format(time.DateOnly), days(left)), "").Expires = leaf.NotAfter.UTC()
	if left < expirySoon {
		c.add("cert-expires-soon", check, sevWarning, mx.Host, "certificate expires in "+days(left)+": renew it", "").Expires = leaf.NotAfter.UTC()
	}
	return true
}

// setExpires sets the expiry of the leaf of chain, if any, on f.
func (f *finding) setExpires(chain []*x509.Certificate) {
	if len(chain) > 0 {
		f.Expires = chain[0].NotAfter.UTC()
	}
}

package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtasts-go/mtasts/examples/internal/smtpc"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/tlsrpt"
	"github.com/mtasts-go/mtasts/validate"
)

// relay delivers messages; it is shared by every session.
type relay struct {
	log      *slog.Logger
	res      *resolver.Resolver
	dns      *dnsclient.Client
	dial     *smtpc.Dialer
	roots    *x509.CertPool
	hostname string
	timeout  time.Duration

	// rep counts the TLS-RPT result of every session and sends the
	// reports; nil without -tlsrpt.
	rep *reporter
}

// record counts the TLS-RPT result of one session with the MX host of d,
// carrying mail from from. Under DANE (with -dane) the session counts
// under policy-type tlsa, for the TLSA base domain of the MX host, not the
// recipient domain (RFC 8460 section 1.1). Otherwise the policy is the one
// applied, testing or enforce; under mode none, as without a policy, the
// session counts as no-policy-found.
func (rl *relay) record(d *resolver.Decision, from string, out *outcome) {
	if rl.rep == nil || !out.counted {
		return
	}
	var res tlsrpt.Result
	switch {
	case d.PolicyType() == "tlsa":
		res = tlsrpt.SessionDANE(d.MX, d.DANE, out.result, nil)
	case d.Action == resolver.Deliver || d.Action == resolver.Refuse:
		res = tlsrpt.Session(d.Domain, d.MX, d.Policy, out.result, nil)
	default:
		res = tlsrpt.Session(d.Domain, d.MX, nil, out.result, nil)
	}
	res.ReasonCode, res.SendingIP, res.ReceivingIP, res.MailFrom = out.reason, out.local, out.remote, from
	if err := rl.rep.Record(res); err != nil {
		rl.log.Error("tlsrpt: not recorded", "domain", d.PolicyDomain(), "err", err)
	}
}

// Replies for failed deliveries.
var (
	errDNS = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 3},
		Message: "cannot look up the recipient domain now; try again later"}
	errNullMX = &smtp.SMTPError{Code: 556, EnhancedCode: smtp.EnhancedCode{5, 1, 10},
		Message: "the recipient domain accepts no mail (null MX)"}
	errPolicyUnknown = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 3},
		Message: "the MTA-STS policy of the recipient domain cannot be known now; try again later"}
	errNoSecureMX = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 5},
		Message: "no MX host of the recipient domain passed its MTA-STS policy; try again later"}
	errNoMX = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 1},
		Message: "no MX host of the recipient domain took the message; try again later"}
)

// deliver sends msg to the MX hosts of domain in preference order until
// one takes it, and returns nil or the reply for the client.
func (rl *relay) deliver(ctx context.Context, domain, from string, to []string, msg []byte) *smtp.SMTPError {
	mxs, err := rl.dns.MX(ctx, domain)
	switch {
	case errors.Is(err, dnsclient.ErrBadName):
		// Some MX targets cannot be host names; deliver to the others, as
		// net.Resolver.LookupMX callers do.
		rl.log.Warn("mx names skipped", "domain", domain, "err", err)
		if len(mxs) == 0 {
			return errNoMX
		}
	case err != nil:
		rl.log.Warn("mx lookup failed", "domain", domain, "err", err)
		return errDNS
	case len(mxs) == 0: // implicit MX (RFC 5321 section 5.1)
		mxs = []dnsclient.MX{{Host: domain}}
	case len(mxs) == 1 && mxs[0].Host == "":
		return errNullMX
	}
	refused := false
	for _, mx := range mxs {
		if mx.Host == "" {
			continue
		}
		d, err := rl.res.Check(ctx, domain, mx.Host)
		if err != nil {
			rl.log.Warn("check failed", "domain", domain, "mx", mx.Host, "err", err)
			return errPolicyUnknown
		}
		log := rl.log.With("domain", domain, "mx", d.MX, "action", d.Action.String(), "policy", policyOf(&d))
		switch d.Action {
		case resolver.Defer:
			log.Warn("deferred", "reason", d.Reason, "err", d.Err)
			return errPolicyUnknown
		case resolver.Refuse:
			// No connection is made, but the failure is one to report.
			log.Warn("session", "result", d.Result.String(), "reason", d.Reason)
			rl.record(&d, from, &outcome{result: cmp.Or(d.Result, validate.ResultValidationFailure), reason: d.Reason, counted: true})
			refused = true
			continue
		}
		out := rl.attempt(ctx, &d, from, to, msg)
		rl.record(&d, from, &out)
		attrs := []any{"result", orSuccess(out.result), "tls", out.tls}
		if out.err != nil {
			attrs = append(attrs, "err", out.err)
		}
		switch {
		case out.err == nil:
			log.Info("session", attrs...)
			rl.log.Info("delivered", "domain", domain, "mx", d.MX, "from", from, "to", to)
			return nil
		case out.perm != nil:
			log.Warn("session", attrs...)
			return out.perm
		}
		log.Warn("session", attrs...)
		refused = refused || out.refused
	}
	reply := errNoMX
	if refused {
		reply = errNoSecureMX
	}
	rl.log.Warn("not delivered", "domain", domain, "from", from, "to", to, "reply", reply.Code, "why", reply.Message)
	return reply
}

// outcome is the result of one session with an MX host.
type outcome struct {
	result  validate.ResultType // the RFC 8460 result, "" for success or none
	tls     string              // the TLS version, or "none"
	refused bool                // the policy stopped delivery to this host
	err     error               // nil: delivered
	perm    *smtp.SMTPError     // a permanent refusal to pass back

	// What TLS-RPT records of the session: whether it counts at all, a
	// reason code for the failure, the endpoints when connected.
	counted       bool
	reason        string
	local, remote netip.Addr
}

// attempt delivers msg to the MX host of d, over STARTTLS with the
// verdict's configuration.
func (rl *relay) attempt(ctx context.Context, d *resolver.Decision, from string, to []string, msg []byte) outcome {
	out := outcome{tls: "none"}
	// A policy in effect (testing or enforce) has its result recorded for
	// every session; the verdict may carry a failure already (an MX host
	// outside a testing policy, a failed policy fetch). Mode none and no
	// policy count as no-policy-found: TLS negotiated or not.
	underPolicy := d.Action == resolver.Deliver
	// RequireTLS: an enforce policy, or DANE (usable TLSA records).
	enforce := underPolicy && d.RequireTLS
	out.result = d.Result
	// A session that fails on the network before its TLS negotiation is
	// over is not a TLS result (RFC 8460 section 4.3.4): it counts only
	// when the verdict itself is a failure.
	out.counted = d.Result != ""
	if d.Result == validate.ResultValidationFailure {
		out.reason = d.Reason
	}
	conn, err := rl.dial.Dial(ctx, d.MX)
	if err != nil {
		out.err = err
		return out
	}
	out.local, out.remote = addrOf(conn.LocalAddr()), addrOf(conn.RemoteAddr())
	c, err := smtpc.NewClient(ctx, conn, rl.hostname)
	if err != nil {
		out.err = err
		return out
	}
	defer c.Close()

	// Without a policy, TLS is opportunistic (RFC 3207, RFC 7435): any
	// certificate will do, and a server without STARTTLS gets the message
	// in clear. Under a policy, the verdict's configuration replaces this
	// with the policy's validation, whose outcome the hook reports for
	// this session (under testing a failure does not stop the handshake).
	base := &tls.Config{InsecureSkipVerify: true}
	var reported error
	err = c.StartTLS(ctx, d.TLSConfigReport(base, func(err error) { reported = err }))
	switch {
	case errors.Is(err, smtpc.ErrNoSTARTTLS):
		out.counted = true
		if underPolicy || out.result == "" {
			out.result = validate.ResultStartTLSNotSupported
		}
		if enforce {
			out.err, out.refused = err, true
			return out
		}
	case err != nil:
		out.counted = out.counted || reported != nil || !transient(err)
		if underPolicy || out.result == "" {
			out.result = validate.ResultOf(cmp.Or(reported, err))
			out.reason = reasonCode(out.result, cmp.Or(reported, err))
		}
		out.err, out.refused = err, enforce
		return out
	default:
		out.counted = true
		out.tls = tls.VersionName(c.TLS().Version)
		if reported != nil && out.result == "" {
			out.result = validate.ResultOf(reported)
			out.reason = reasonCode(out.result, reported)
		}
	}

	if err := c.Send(from, to, bytes.NewReader(msg)); err != nil {
		out.err = err
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			out.perm = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 0, 0},
				Message: fmt.Sprintf("%s said: %d %s", d.MX, te.Code, te.Msg)}
		}
		return out
	}
	c.Quit()
	return out
}

// transient reports whether err, which failed a TLS handshake, is a network
// failure rather than a TLS one: a timeout, a reset or closed connection.
func transient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// reasonCode is the failure-reason-code of a result: RFC 8460 asks for one
// with certificate-not-trusted and validation-failure.
func reasonCode(r validate.ResultType, err error) string {
	if r != validate.ResultCertificateNotTrusted && r != validate.ResultValidationFailure {
		return ""
	}
	var ve *validate.Error
	if errors.As(err, &ve) {
		return ve.Err.Error()
	}
	return err.Error()
}

// addrOf returns the IP address of a TCP endpoint, or the zero Addr.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func policyOf(d *resolver.Decision) string {
	switch {
	case d.PolicyType() == "tlsa":
		return "dane " + d.DANEStatus.String()
	case d.Policy != nil:
		return d.Mode.String() + " " + d.PolicyID
	case d.Result != "":
		return "fetch failed"
	}
	return "none"
}

func orSuccess(r validate.ResultType) string {
	if r == "" {
		return "success"
	}
	return r.String()
}

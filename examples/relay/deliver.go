package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtasts-go/mtasts/examples/internal/smtpc"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
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

	// Under a testing policy a certificate failure does not stop the
	// handshake: the resolver reports it through Events.TLSResult only.
	// The hook says nothing of which session it concerns, so handshakes
	// run one at a time and the hook writes to the one in progress.
	tlsMu    sync.Mutex
	reported error
}

// tlsResult is the resolver's Events.TLSResult hook.
func (rl *relay) tlsResult(_, _, _ string, err error) { rl.reported = err } // under tlsMu

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
			refused = true
			continue
		}
		out := rl.attempt(ctx, &d, from, to, msg)
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
}

// attempt delivers msg to the MX host of d, over STARTTLS with the
// verdict's configuration.
func (rl *relay) attempt(ctx context.Context, d *resolver.Decision, from string, to []string, msg []byte) outcome {
	out := outcome{tls: "none"}
	// A policy in effect (testing or enforce) has its result recorded for
	// every session; mode none and no policy have none (besides a failed
	// policy fetch, which the verdict carries).
	underPolicy := d.Action == resolver.Deliver
	enforce := underPolicy && d.Mode == policy.ModeEnforce
	out.result = d.Result
	conn, err := rl.dial.Dial(ctx, d.MX)
	if err != nil {
		out.err = err
		return out
	}
	c, err := smtpc.NewClient(ctx, conn, rl.hostname)
	if err != nil {
		out.err = err
		return out
	}
	defer c.Close()

	// Without a policy, TLS is opportunistic (RFC 3207, RFC 7435): any
	// certificate will do, and a server without STARTTLS gets the message
	// in clear. Under a policy, the verdict's configuration replaces this
	// with the policy's validation.
	base := &tls.Config{InsecureSkipVerify: true}
	rl.tlsMu.Lock()
	rl.reported = nil
	err = c.StartTLS(ctx, d.TLSConfig(base))
	reported := rl.reported
	rl.tlsMu.Unlock()
	switch {
	case errors.Is(err, smtpc.ErrNoSTARTTLS) && underPolicy:
		out.result = validate.ResultStartTLSNotSupported
		if enforce {
			out.err, out.refused = err, true
			return out
		}
	case errors.Is(err, smtpc.ErrNoSTARTTLS):
	case err != nil:
		if underPolicy {
			out.result = validate.ResultOf(err)
		}
		out.err, out.refused = err, enforce
		return out
	default:
		out.tls = tls.VersionName(c.TLS().Version)
		if reported != nil && out.result == "" {
			out.result = validate.ResultOf(reported)
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

func policyOf(d *resolver.Decision) string {
	switch {
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

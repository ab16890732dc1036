package tlsrpt

import (
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

// Sink is what counts results: a [*Recorder] or a [*Reporter].
type Sink interface {
	// Record counts one session's result; it must be safe for concurrent use.
	Record(Result) error
}

// Session returns the Result of one session from the values a resolver
// verdict carries (resolver.Decision's Domain, MX, Policy and Result) and
// the error of its TLS handshake, if any: the result type is the
// verdict's when it has one (an sts policy fetch failure, an MX host the
// policy does not list), else validate.ResultOf(handshake) ("" for a
// successful one). A policy of mode none counts as no policy. With a
// resolver.Decision d, one line records a session:
//
//	rep.Record(tlsrpt.Session(d.Domain, d.MX, d.Policy, d.Result, err))
//
// Leave transient network errors out (RFC 8460 section 4.3.4):
// validate.ResultOf reads any error as validation-failure. A session that
// DANE governed (d.PolicyType() == "tlsa") is recorded with [SessionDANE]
// instead: its policy domain is the MX host, not d.Domain.
func Session(domain, mx string, p *policy.Policy, verdict validate.ResultType, handshake error) Result {
	rt := verdict
	if rt == "" {
		rt = validate.ResultOf(handshake)
	}
	return Result{Domain: domain, Policy: p, ResultType: rt, ReceivingMX: mx}
}

// Hook returns a function for resolver.Decision.TLSConfigReport that
// records the result of each handshake validated under the policy into s:
//
//	cfg := d.TLSConfigReport(base, tlsrpt.Hook(rep, d.Domain, d.MX, d.Policy))
//
// For sessions that the hook does not see (no policy, STARTTLS not
// offered, a verdict that makes no connection), record a [Session]. Under
// DANE, use [HookDANE].
func Hook(s Sink, domain, mx string, p *policy.Policy) func(error) {
	return func(err error) {
		s.Record(Session(domain, mx, p, "", err))
	}
}

package tlsrpt

import (
	"github.com/mtasts-go/mtasts/dane"
	"github.com/mtasts-go/mtasts/validate"
)

// SessionDANE returns the Result of one session that DANE governed (a
// resolver.Decision d whose d.PolicyType() is "tlsa"), from the values
// the verdict carries (d.MX, d.DANE, d.Result) and the error of its TLS
// handshake, if any. It reports policy-type tlsa, the TLSA records of set
// in presentation form as policy-string, and as policy-domain the TLSA
// base domain (set.Base(), the MX host when set is nil, as for a bogus
// TLSA lookup), not the recipient domain (RFC 8460 sections 1.1 and 4.4).
// The result type is the verdict's when it has one (dnssec-invalid), else
// validate.ResultOf(handshake). With a resolver.Decision d, one line
// records a session whichever policy governs it:
//
//	if d.PolicyType() == "tlsa" {
//		rep.Record(tlsrpt.SessionDANE(d.MX, d.DANE, d.Result, err))
//	} else {
//		rep.Record(tlsrpt.Session(d.Domain, d.MX, d.Policy, d.Result, err))
//	}
//
// Taking the Set rather than its parts leaves no domain to mistake: the
// recipient domain never reaches a tlsa report.
func SessionDANE(mx string, set *dane.Set, verdict validate.ResultType, handshake error) Result {
	rt := verdict
	if rt == "" {
		rt = validate.ResultOf(handshake)
	}
	res := Result{Domain: mx, Type: PolicyTLSA, ResultType: rt, ReceivingMX: mx}
	if set != nil {
		res.Domain = set.Base()
		res.PolicyString = set.PolicyStrings()
	}
	return res
}

// HookDANE is [Hook] for a session that DANE governs: a function for
// resolver.Decision.TLSConfigReport that records each handshake's result
// as a [SessionDANE] into s:
//
//	cfg := d.TLSConfigReport(base, tlsrpt.HookDANE(rep, d.MX, d.DANE))
func HookDANE(s Sink, mx string, set *dane.Set) func(error) {
	return func(err error) {
		s.Record(SessionDANE(mx, set, "", err))
	}
}

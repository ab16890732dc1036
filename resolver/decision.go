package resolver

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/dane"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

// Action is what a sender does with one MX host of a domain.
type Action uint8

// The actions (docs/ARCHITECTURE.md, "The delivery decision").
const (
	// Deliver: deliver to this MX host with the configuration of
	// Decision.TLSConfig, which validates the host's certificate under the
	// policy. Under enforce (Decision.RequireTLS) STARTTLS is required and
	// an invalid certificate fails the handshake: never fall back to
	// plaintext. Under testing, failures are only reported.
	Deliver Action = iota + 1
	// DeliverWithoutSTS: no MTA-STS policy applies; deliver as usual
	// (opportunistic TLS).
	DeliverWithoutSTS
	// Refuse: do not deliver to this MX host; try the next one. When none
	// is left, the message is a temporary failure, retried later (RFC
	// 8461 section 5), never a bounce.
	Refuse
	// Defer: whether a policy applies is unknown (the TXT lookup failed
	// temporarily, within Options.TemporaryErrorGrace); retry the delivery
	// later.
	Defer
)

// String returns the action as the lookup command prints it: deliver,
// deliver-without-sts, refuse or defer.
func (a Action) String() string {
	switch a {
	case Deliver:
		return "deliver"
	case DeliverWithoutSTS:
		return "deliver-without-sts"
	case Refuse:
		return "refuse"
	case Defer:
		return "defer"
	}
	return "unknown"
}

// Reasons of decisions, for logs.
const (
	ReasonMatch        = "mx matches the policy"
	ReasonNoPolicy     = "no policy"
	ReasonModeNone     = "policy mode is none"
	ReasonMismatch     = "mx does not match the policy" // followed by the policy's patterns, see Decision.Reason
	ReasonFetchFailed  = "policy could not be fetched"
	ReasonTemporaryDNS = "_mta-sts lookup failed temporarily"
	// ReasonGraceOver: the _mta-sts lookup has failed temporarily for
	// longer than Options.TemporaryErrorGrace; the delivery goes on
	// without MTA-STS.
	ReasonGraceOver = "_mta-sts lookup failing for longer than the grace, delivering without MTA-STS"
	ReasonSkipped   = "MTA-STS skipped for the domain by the operator"
	// ReasonAddressLiteral: the domain is an IP address, which has no
	// policy (RFC 8461 section 3.4).
	ReasonAddressLiteral = "domain is an address literal"
)

// Decision is the verdict for one MX host of one domain.
type Decision struct {
	Action   Action
	Domain   string         // the policy domain, normalised
	MX       string         // the MX host, normalised
	Mode     policy.Mode    // the mode applied (the policy's, unless Options.Overrides forces enforce); 0 if none
	Policy   *policy.Policy // the policy applied, nil if none; shared with the cache: do not modify
	PolicyID string         // the id of the policy's record, if known
	Source   Source
	// Result is the RFC 8460 result type to report for this decision, ""
	// for none: a policy fetch failure (sts-*), or validation-failure for
	// an MX host that matches no pattern under testing or enforce. A
	// cached policy (not mode none) whose last refresh failed still
	// applies, and reports that failure here (RFC 8461 section 6) unless
	// the MX host fails the policy.
	Result validate.ResultType
	// Reason is one of the Reason constants: short, one line. For an MX
	// host that fails the policy it is ReasonMismatch followed by the
	// policy's patterns, " (policy mx: a.example.com, *.example.net)",
	// truncated after a few.
	Reason string
	// Err is the failure behind Result, Defer or ReasonGraceOver, if any:
	// a *FetchError, a *DNSError, or the last failed refresh of a stale
	// policy.
	Err error
	// RequireTLS is true for Deliver under enforce: the MX host must offer
	// STARTTLS and pass validation, or it is not delivered to (RFC 8461
	// section 5).
	RequireTLS bool
	// GraceEnds is, for Defer after a temporary failure of the _mta-sts
	// lookup, when Options.TemporaryErrorGrace runs out and deliveries to
	// the domain go on without MTA-STS; zero under GraceForever.
	GraceEnds time.Time

	// DANEStatus is what DANE says of the MX host, under Options.DNSSEC:
	// DANESecure means the TLSA records decided (Action Deliver,
	// RequireTLS, Reason ReasonDANE), whatever the MTA-STS mode; the
	// MTA-STS fields (Mode, Policy, ...) then only inform. DANEBogus
	// means Refuse with dnssec-invalid. See PolicyType.
	DANEStatus DANEStatus
	// DANE is the MX host's DNSSEC-validated TLSA RRset, for DANESecure
	// and DANEUnusable; nil otherwise. Its PolicyStrings are the
	// policy-string of a TLS-RPT report of type tlsa.
	DANE *dane.Set

	dane *daneHost // the DANE lookups behind DANEStatus; a pointer keeps Decision comparable

	r *Resolver
}

// PolicyType returns the RFC 8460 policy-type under which the outcome of
// a delivery to this MX host is reported: "tlsa" when DANE governs the
// host (DANESecure, DANEBogus, or DANEUnusable with no MTA-STS policy
// applying), "sts" when an MTA-STS policy in testing or enforce mode
// does, else "no-policy-found". The policy-domain of a tlsa report is
// the TLSA base domain (Decision.DANE.Base()), of an sts one Domain.
func (d *Decision) PolicyType() string {
	sts := d.Policy != nil && d.Mode != policy.ModeNone
	switch {
	case d.DANEStatus == DANESecure || d.DANEStatus == DANEBogus:
		return "tlsa"
	case sts:
		return "sts"
	case d.DANEStatus == DANEUnusable:
		return "tlsa"
	}
	return "no-policy-found"
}

// TLSConfig returns the configuration for the STARTTLS connection to this
// MX host: a clone of base with ServerName set to the MX host, and, under a
// testing or enforce policy, the policy's certificate validation (see
// validate.TLSConfig): under enforce an invalid certificate fails the
// handshake; under testing it is only reported, through
// Options.Events.TLSResult. Without a policy (or under mode none), base's
// own verification applies unchanged: for opportunistic TLS, which accepts
// any certificate (RFC 7435), pass a base with InsecureSkipVerify set; the
// policy's verification replaces it where a policy applies.
func (d *Decision) TLSConfig(base *tls.Config) *tls.Config {
	return d.TLSConfigReport(base, nil)
}

// TLSConfigReport is TLSConfig with a report hook of the caller's own:
// report, if not nil, is called once per handshake validated under a
// testing or enforce policy, with nil or the *validate.Error
// (validate.ResultOf gives its RFC 8460 result type), so that an MTA can
// tie the result to its session. Options.Events.TLSResult is called too.
func (d *Decision) TLSConfigReport(base *tls.Config, report func(error)) *tls.Config {
	if d.DANE != nil && (d.DANEStatus == DANESecure || d.Policy == nil || d.Mode == policy.ModeNone) {
		return d.daneTLSConfig(base, report)
	}
	var p *policy.Policy
	if d.Policy != nil && d.Mode != policy.ModeNone {
		p = d.Policy
		if p.Mode != d.Mode { // an operator's ForceEnforce
			forced := *p
			forced.Mode = d.Mode
			p = &forced
		}
	}
	opts := validate.Options{Report: report}
	if d.r != nil {
		opts.Roots = d.r.opts.RootCAs
		opts.Clock = d.r.clock
		if h := d.r.opts.Events.TLSResult; h != nil {
			domain, mx, id := d.Domain, d.MX, d.PolicyID
			opts.Report = func(err error) {
				if report != nil {
					report(err)
				}
				h(domain, mx, id, err)
			}
		}
	}
	return validate.TLSConfig(p, d.MX, base, opts)
}

// PolicyDomain returns the policy-domain of the TLS-RPT result for this
// decision (RFC 8460 section 4.4): under PolicyType "tlsa" the TLSA base
// domain (the MX host itself when the TLSA lookup failed), else the
// policy domain, Domain. With PolicyType and, for "tlsa",
// Decision.DANE.PolicyStrings(), it fills a tlsrpt.Result.
func (d *Decision) PolicyDomain() string {
	if d.PolicyType() == "tlsa" {
		if d.DANE != nil {
			return d.DANE.Base()
		}
		return d.MX
	}
	return d.Domain
}

// daneTLSConfig is TLSConfigReport under DANE: the TLSA records decide.
func (d *Decision) daneTLSConfig(base *tls.Config, report func(error)) *tls.Config {
	opts := dane.Options{Report: report}
	if d.dane != nil {
		opts.Names = d.dane.names
	}
	if d.r != nil {
		opts.Clock = d.r.clock
		if h := d.r.opts.Events.TLSResult; h != nil {
			domain, mx, id := d.Domain, d.MX, d.PolicyID
			opts.Report = func(err error) {
				if report != nil {
					report(err)
				}
				h(domain, mx, id, err)
			}
		}
	}
	return dane.TLSConfig(d.DANE, base, opts)
}

// Check decides whether the sender may deliver mail for domain (the policy
// domain: the recipient's domain, or the smart host's) to the MX host mx,
// per RFC 8461 sections 4 and 5 (see docs/ARCHITECTURE.md). It is the one call an MTA
// makes per delivery attempt; on a cache hit it costs no allocation.
//
// Under enforce, an MX host that fails a cached policy is refused only
// after the TXT record has been checked again (and a policy with a new id
// fetched), so that a domain that adds an MX host and a new policy together
// is not refused for up to max_age (RFC 8461 section 5.1).
//
// An MX name that is not a host name (an IP address, a single label) matches
// no policy: it is refused under enforce.
//
// A domain that is an address literal ("[192.0.2.1]", "192.0.2.1",
// "[IPv6:2001:db8::1]") has no policy (RFC 8461 section 3.4):
// DeliverWithoutSTS, with ReasonAddressLiteral.
//
// With Options.DNSSEC, DANE (RFC 7672) is decided for the MX host too, and
// takes precedence as RFC 8461 section 2 requires: usable DNSSEC-validated
// TLSA records make the verdict Deliver with RequireTLS whatever the
// MTA-STS mode (TLSConfig then checks the certificate against them); a
// bogus or failed DNSSEC lookup for the host makes it Refuse, with result
// dnssec-invalid; TLSA records that are validated but unusable make TLS
// mandatory and leave authentication to MTA-STS; an insecure zone or a
// validated denial leaves MTA-STS alone. Decision.DANEStatus says which.
// The DANE lookups (the domain's MX RRset, the host's addresses and TLSA
// records) are cached for their TTL, within bounds.
//
// Check returns an error only when it cannot decide: an invalid domain
// (*DomainError), a closed resolver, or ctx done before the TXT record is
// known (with Defer). Everything else, including a failed fetch, a failed
// TXT lookup and ctx done while the policy is fetched (a failed fetch for
// this delivery, see the package documentation), is a Decision.
func (r *Resolver) Check(ctx context.Context, domain, mx string) (dec Decision, err error) {
	var isHost bool
	err = r.checkSTS(ctx, &dec, domain, mx, &isHost)
	if r.sec != nil && err == nil && isHost {
		r.applyDANE(ctx, &dec)
	}
	return dec, err
}

// checkSTS is Check under MTA-STS alone.
// isHost is set when mx is a host name.
func (r *Resolver) checkSTS(ctx context.Context, dec *Decision, domain, mx string, isHost *bool) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if r.cache == nil {
		return ErrNotInitialised
	}
	// Cache keys are normal names, so a hit on the name as given proves
	// it normal and saves normalising it (callers usually pass normal
	// names).
	d, e := domain, r.cachedEntry(domain)
	if e == nil {
		var err error
		if d, err = Normalize(domain); err != nil {
			if isAddressLiteral(domain) {
				h, _ := Normalize(mx)
				*dec = Decision{Action: DeliverWithoutSTS, Domain: domain, MX: cmp.Or(h, mx), Reason: ReasonAddressLiteral, r: r}
				return nil
			}
			return err
		}
		e = r.cachedEntry(d)
	}
	h, err := Normalize(mx)
	*isHost = err == nil
	if err != nil {
		h = mx // not a host name (an address, a single label): it matches no policy
	}
	if len(r.opts.Overrides) > 0 && r.opts.Overrides[d] == Skip {
		*dec = Decision{Action: DeliverWithoutSTS, Domain: d, MX: h, Reason: ReasonSkipped, r: r}
		return nil
	}
	if e != nil {
		// The Decision is built in place: copies of it were a third of a
		// cache hit.
		r.apply(dec, e, h, cachedSource(e))
		if dec.Action != Refuse || !r.mismatchDue(d) {
			return nil
		}
		o, err := r.update(ctx, d, modeMismatch)
		if err != nil {
			return nil // the cached policy stands
		}
		r.decide(dec, o, d, h)
		return nil
	}
	if r.knownNoPolicy(d) {
		*dec = Decision{Action: DeliverWithoutSTS, Domain: d, MX: h, Reason: ReasonNoPolicy, r: r}
		return nil
	}
	o, err := r.update(ctx, d, modeDiscover)
	if err != nil {
		*dec = Decision{Action: Defer, Domain: d, MX: h, Err: err, r: r}
		return err
	}
	r.decide(dec, o, d, h)
	return nil
}

// decide sets d to the decision for MX host h of domain after an update
// with outcome o.
func (r *Resolver) decide(d *Decision, o *outcome, domain, h string) {
	switch {
	case o.entry != nil:
		r.apply(d, o.entry, h, o.source)
	case o.fetchErr != nil:
		// RFC 8461 section 3.3: with no valid cached policy, deliver as if
		// the domain had none, and report why.
		fe := o.fetchErr.(*FetchError)
		*d = Decision{Action: DeliverWithoutSTS, Domain: domain, MX: h, PolicyID: o.id,
			Result: fe.Result(), Reason: ReasonFetchFailed, Err: fe, r: r}
	case o.dnsErr != nil:
		a, reason, ends := r.temporaryAction(domain, r.clock())
		*d = Decision{Action: a, Domain: domain, MX: h, Reason: reason, Err: o.dnsErr, GraceEnds: ends, r: r}
	default:
		*d = Decision{Action: DeliverWithoutSTS, Domain: domain, MX: h, Reason: ReasonNoPolicy, r: r}
	}
}

// mismatchRecheck is how long after one TXT check caused by a mismatching
// MX host the next mismatch is refused without another: it bounds the
// queries that a stream of mismatching MX hosts can cause.
const mismatchRecheck = time.Minute

// mismatchDue reports whether a mismatch on domain should check the TXT
// record before refusing, and if so notes the check.
func (r *Resolver) mismatchDue(domain string) bool {
	now := r.clock()
	if last, ok := r.mismatches.Get(domain); ok && now.Sub(last) < mismatchRecheck {
		return false
	}
	r.mismatches.Add(domain, now)
	return true
}

// apply sets d to the decision for MX host h under the policy of e.
func (r *Resolver) apply(d *Decision, e *cache.Entry, h string, src Source) {
	p := e.Policy()
	*d = Decision{Domain: e.Domain(), MX: h, Mode: p.Mode, Policy: p, PolicyID: e.ID(), Source: src, r: r}
	if d.Mode == policy.ModeTesting && len(r.opts.Overrides) > 0 && r.opts.Overrides[d.Domain] == ForceEnforce {
		d.Mode = policy.ModeEnforce
	}
	switch {
	case d.Mode == policy.ModeNone:
		d.Action, d.Reason = DeliverWithoutSTS, ReasonModeNone
	case validate.Allows(p, h):
		d.Action, d.Reason, d.RequireTLS = Deliver, ReasonMatch, d.Mode == policy.ModeEnforce
	case d.Mode == policy.ModeTesting:
		// RFC 8461 section 5: deliver anyway, and report.
		d.Action, d.Reason, d.Result = Deliver, mismatchReason(p.MX), validate.ResultValidationFailure
	default:
		d.Action, d.Reason, d.Result = Refuse, mismatchReason(p.MX), validate.ResultValidationFailure
	}
	if src == SourceStale && p.Mode != policy.ModeNone {
		r.staleFailure(d, e)
	}
}

// staleFailure adds to d the last failed refresh of e, a cached policy that
// still applies: RFC 8461 section 6 makes it reportable.
func (r *Resolver) staleFailure(d *Decision, e *cache.Entry) {
	f, ok := e.LastFailure()
	if !ok {
		return
	}
	var fe *FetchError
	if err, ok := r.staleErrs.Get(e.Domain()); ok && errors.As(err, &fe) {
		d.Err = fe
	} else {
		// Learnt from the store, after a restart or from a peer: only its
		// text survives.
		d.Err = &FetchError{Kind: FetchHTTP, Host: "mta-sts." + e.Domain(), Err: errors.New(f.Err)}
	}
	if d.Result == "" {
		d.Result = d.Err.(*FetchError).Result()
	}
}

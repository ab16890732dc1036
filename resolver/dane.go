package resolver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/dane"
	"github.com/mtasts-go/mtasts/validate"
)

// DANEStatus is what DANE (RFC 7672) says of an MX host, when
// Options.DNSSEC turns it on.
type DANEStatus uint8

// The DANE statuses.
const (
	// DANENone: DANE does not apply, and MTA-STS alone decides: DANE is
	// off, or the MX RRset, the host's addresses or its TLSA records are
	// not DNSSEC-signed (an insecure zone), or the host has no TLSA
	// records (a secure denial).
	DANENone DANEStatus = iota
	// DANESecure: the host has usable DNSSEC-validated TLSA records,
	// which govern it whatever the MTA-STS mode (RFC 8461 section 2):
	// TLS is mandatory and the certificate must match them.
	DANESecure
	// DANEUnusable: the host has DNSSEC-validated TLSA records, none of
	// them usable (RFC 7672 section 2.2): TLS is mandatory, but MTA-STS
	// (if any) decides how the certificate is checked.
	DANEUnusable
	// DANEBogus: a lookup of the host's TLSA or address records, or the
	// domain's MX records, failed DNSSEC validation or could not be
	// completed (a SERVFAIL, a timeout): the host must not be used (RFC
	// 7672 section 2.2), whatever MTA-STS says.
	DANEBogus
)

// String returns the status as the lookup command prints it: none, secure,
// unusable or bogus.
func (s DANEStatus) String() string {
	switch s {
	case DANESecure:
		return "secure"
	case DANEUnusable:
		return "unusable"
	case DANEBogus:
		return "bogus"
	}
	return "none"
}

// Reasons of decisions under DANE.
const (
	// ReasonDANE: the MX host has usable DNSSEC-validated TLSA records,
	// which decide (RFC 8461 section 2).
	ReasonDANE = "usable DNSSEC-validated TLSA records: DANE applies"
	// ReasonDANEUnusable: the MX host's TLSA records are validated but
	// none is usable: TLS is mandatory, without authentication unless
	// MTA-STS applies.
	ReasonDANEUnusable = "DNSSEC-validated TLSA records, none usable: TLS required"
	// ReasonDNSSECInvalid: a DNSSEC lookup for the MX host failed: not
	// this MX (RFC 7672 section 2.2).
	ReasonDNSSECInvalid = "DNSSEC lookup failed (bogus or indeterminate): not this MX"
)

// How long DANE lookups are remembered: positive answers for their TTL
// within [daneMinTTL, daneMaxTTL], denials and insecure answers for
// daneNegativeTTL, failures for daneFailureTTL.
const (
	daneMinTTL      = 10 * time.Second
	daneMaxTTL      = time.Hour
	daneNegativeTTL = 5 * time.Minute
	daneFailureTTL  = 30 * time.Second
	maxDANEHosts    = 10000
)

// daneKey is the key of the DANE cache: the domain and the MX host.
type daneKey struct{ domain, mx string }

// daneHost is what DANE says of one (domain, MX host): cached.
type daneHost struct {
	status DANEStatus
	set    *dane.Set
	names  []string // reference identifiers besides the TLSA base domain
	why    string   // for DANENone: why DANE does not apply
	err    error    // for DANEBogus
	until  time.Time
}

// mxSecurity is whether a domain's MX RRset is secure: cached.
type mxSecurity struct {
	secure bool
	err    error
	until  time.Time
}

// applyDANE turns d, the MTA-STS decision, into the verdict of both
// policies for its MX host (RFC 8461 section 2).
func (r *Resolver) applyDANE(ctx context.Context, d *Decision) {
	if d.Reason == ReasonAddressLiteral {
		return
	}
	h := r.daneFor(ctx, d.Domain, d.MX)
	d.DANEStatus, d.dane = h.status, h
	switch h.status {
	case DANESecure:
		d.DANE = h.set
		d.Action, d.RequireTLS, d.Reason, d.Result = Deliver, true, ReasonDANE, ""
	case DANEUnusable:
		d.DANE = h.set
		switch d.Action {
		case DeliverWithoutSTS:
			d.Action, d.RequireTLS, d.Reason = Deliver, true, ReasonDANEUnusable
		case Deliver:
			d.RequireTLS = true
		}
	case DANEBogus:
		d.Action, d.RequireTLS, d.Reason = Refuse, false, ReasonDNSSECInvalid
		d.Result = validate.ResultDNSSECInvalid
		d.Err = dane.NewError(d.MX, dane.ErrDNSSECInvalid, h.err)
	}
}

// DANEWhy says, for a Decision with DANEStatus DANENone under
// Options.DNSSEC, why DANE does not apply; "" otherwise.
func (d *Decision) DANEWhy() string {
	if d.dane == nil || d.DANEStatus != DANENone {
		return ""
	}
	return d.dane.why
}

// daneFor returns what DANE says of MX host mx of domain, from the cache
// or from the DNS (one lookup per host at a time).
func (r *Resolver) daneFor(ctx context.Context, domain, mx string) *daneHost {
	key := daneKey{domain, mx}
	if h, ok := r.daneHosts.Get(key); ok && h.until.UnixNano() > r.hotNow() {
		return h
	}
	ch := r.group.DoChan("dane\x00"+domain+"\x00"+mx, func() (any, error) {
		if !r.start() {
			return nil, ErrClosed
		}
		defer r.wg.Done()
		wctx, cancel := context.WithTimeout(r.ctx, r.opts.FetchTimeout)
		defer cancel()
		h := r.lookupDANE(wctx, domain, mx)
		r.daneHosts.Add(key, h)
		return h, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return &daneHost{status: DANEBogus, err: res.Err}
		}
		return res.Val.(*daneHost)
	case <-ctx.Done():
		return &daneHost{status: DANEBogus, err: ctx.Err()}
	}
}

// lookupDANE looks up what DANE says of mx (RFC 7672 section 2.2): the
// domain's MX RRset and the host's addresses must be secure for its TLSA
// records to count.
func (r *Resolver) lookupDANE(ctx context.Context, domain, mx string) *daneHost {
	now := r.clock()
	none := func(why string) *daneHost {
		return &daneHost{status: DANENone, why: why, until: now.Add(daneNegativeTTL)}
	}
	failed := func(err error) *daneHost {
		return &daneHost{status: DANEBogus, err: err, until: now.Add(daneFailureTTL)}
	}
	ms := r.mxSecurityOf(ctx, domain)
	if ms.err != nil {
		return failed(ms.err)
	}
	if !ms.secure {
		return none("the MX records are not DNSSEC-signed")
	}
	// The host's addresses, and the name they end at after CNAMEs.
	final, secure := mx, true
	found := false
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		a, err := r.sec.LookupSecure(ctx, mx, t)
		if err != nil {
			return failed(err)
		}
		secure = secure && a.Secure
		if a.Exists {
			found = true
			final = a.Name
		}
	}
	if !found {
		return none("the MX host has no addresses")
	}
	if !secure {
		return none("the MX host's addresses are not DNSSEC-signed")
	}
	// RFC 7672 section 2.2.3: with a secure CNAME, the expanded name is
	// the first TLSA base domain to try, then the MX host name.
	bases := []string{mx}
	if final != mx {
		bases = []string{final, mx}
	}
	for i, base := range bases {
		t, err := r.sec.TLSA(ctx, base)
		if err != nil {
			return failed(err)
		}
		if !t.Secure {
			return none("the TLSA records are not DNSSEC-signed")
		}
		if len(t.Records) == 0 {
			continue
		}
		set, err := dane.NewSet(base, t.Records)
		if err != nil {
			return failed(err)
		}
		var names []string
		if len(bases) > 1 {
			names = []string{bases[1-i]}
		}
		h := &daneHost{status: DANESecure, set: set, names: names, until: now.Add(ttlOf(t.TTL))}
		if !set.IsUsable() {
			h.status = DANEUnusable
		}
		return h
	}
	return none("no TLSA records (DNSSEC-validated denial)")
}

// mxSecurityOf returns whether the MX RRset of domain is secure, cached.
// A domain without MX records (a secure denial) is its own MX host (RFC
// 5321 section 5.1), so the denial counts as secure.
func (r *Resolver) mxSecurityOf(ctx context.Context, domain string) *mxSecurity {
	now := r.clock()
	if m, ok := r.mxSec.Get(domain); ok && now.Before(m.until) {
		return m
	}
	a, err := r.sec.LookupSecure(ctx, domain, dns.TypeMX)
	m := &mxSecurity{secure: a.Secure}
	switch {
	case err != nil:
		m.err, m.until = fmt.Errorf("MX lookup of %s: %w", domain, err), now.Add(daneFailureTTL)
	case a.Exists:
		m.until = now.Add(ttlOf(minTTL(a.RRs)))
	default:
		m.until = now.Add(daneNegativeTTL)
	}
	r.mxSec.Add(domain, m)
	return m
}

func minTTL(rrs []dns.RR) uint32 {
	var m uint32
	for i, rr := range rrs {
		if t := rr.Header().Ttl; i == 0 || t < m {
			m = t
		}
	}
	return m
}

func ttlOf(ttl uint32) time.Duration {
	return min(max(time.Duration(ttl)*time.Second, daneMinTTL), daneMaxTTL)
}

// ErrDANEOff is returned by Resolver.DANE when Options.DNSSEC is not set.
var ErrDANEOff = errors.New("resolver: DANE is off (Options.DNSSEC not set)")

// DANE returns what DANE alone says of MX host mx of domain, without
// MTA-STS: the status, and for DANESecure and DANEUnusable the validated
// TLSA records. It shares Check's cache. A Postfix policy server uses it
// to answer "dane-only" for a next hop whose MX hosts are DANE-secured,
// letting Postfix do the DANE handshake itself. It fails only when
// Options.DNSSEC is not set (ErrDANEOff), the resolver is closed, or mx or
// domain is not a host name; a failed lookup is DANEBogus, with the
// *validate.Error (dnssec-invalid) as the error.
func (r *Resolver) DANE(ctx context.Context, domain, mx string) (DANEStatus, *dane.Set, error) {
	if r.closed.Load() {
		return DANENone, nil, ErrClosed
	}
	if r.sec == nil {
		return DANENone, nil, ErrDANEOff
	}
	d, err := Normalize(domain)
	if err != nil {
		return DANENone, nil, err
	}
	h, err := Normalize(mx)
	if err != nil {
		return DANENone, nil, err
	}
	st := r.daneFor(ctx, d, h)
	if st.status == DANEBogus {
		return DANEBogus, nil, dane.NewError(h, dane.ErrDNSSECInvalid, st.err)
	}
	return st.status, st.set, nil
}

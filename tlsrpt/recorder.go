package tlsrpt

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

// Defaults of [Options].
const (
	DefaultMaxFailureGroups = 1000
	DefaultMaxPolicies      = 10000
	DefaultMaxPolicyBytes   = 16 << 20
	DefaultMaxGroupsTotal   = 100_000
)

// maxMemo bounds the memory of rendered policies, keyed by pointer.
const maxMemo = 4096

// Result is the outcome of one SMTP session (or of one failed policy
// fetch) to record. A resolver.Decision gives most of it: Domain from
// Decision.Domain, Policy from Decision.Policy, ResultType from
// Decision.Result (or from validate.ResultOf of the handshake's error),
// ReceivingMX from Decision.MX.
type Result struct {
	// Domain is the policy domain (any case, U-labels or A-labels): the
	// recipient domain, the smart host's domain, or for DANE the TLSA base
	// domain (RFC 8460 section 1.1). Required.
	Domain string
	// Type is the kind of policy applied. When empty it is PolicySTS if
	// Policy is set or ResultType is an MTA-STS policy failure (a TXT
	// record announced a policy that could not be used), else PolicyNone.
	Type PolicyType
	// Policy is the MTA-STS policy applied, if any. It is only read.
	Policy *policy.Policy
	// PolicyString and MXHost describe the policy when Policy is nil: for
	// DANE, the TLSA records in presentation form ("3 1 1 AB12...").
	PolicyString []string
	MXHost       []string

	// ResultType is "" for a session that negotiated policy-compliant TLS
	// (for no-policy-found: that negotiated TLS at all), else the failure.
	ResultType validate.ResultType
	// The endpoints of the session; the zero values mean unknown, and are
	// left out of the report.
	SendingIP     netip.Addr
	ReceivingMX   string
	ReceivingHELO string
	ReceivingIP   netip.Addr
	// ReasonCode is a short TLS error code or message (RFC 8460 asks for
	// one with certificate-not-trusted and validation-failure).
	ReasonCode string
	// AdditionalInfo is an absolute URI with more information; the first
	// one of each group of failures is kept.
	AdditionalInfo string
	// MailFrom is the envelope sender of the message the session carried,
	// if known. A [Reporter] leaves out the sessions that carry its own
	// reports (RFC 8460 section 3: they SHOULD NOT be counted).
	MailFrom string
}

// Options configure a [Recorder]. The zero value works.
type Options struct {
	// Clock returns the current time; it decides which UTC day a result
	// counts in. Default: time.Now.
	Clock func() time.Time
	// MaxFailureGroups bounds the distinct failure details kept per policy
	// and day; failures beyond it still count in the summary. Default
	// DefaultMaxFailureGroups.
	MaxFailureGroups int
	// MaxPolicies bounds the (day, domain, policy) entries kept; results
	// for new entries beyond it are dropped and counted by
	// Recorder.Dropped. Default DefaultMaxPolicies.
	MaxPolicies int
	// MaxPolicyBytes bounds the text of the policies kept (each kept
	// once per entry); results for new entries beyond it are dropped like
	// those beyond MaxPolicies. Default DefaultMaxPolicyBytes. With the
	// texts of failure details capped at 255 bytes each, the memory of a
	// Recorder is bounded by these three limits.
	MaxPolicyBytes int
	// MaxGroupsTotal bounds the failure groups of all entries together;
	// failures beyond it still count in their summary. Default
	// DefaultMaxGroupsTotal. With the texts of a group capped (about
	// 1.8 KB at most), it bounds the memory of failure details.
	MaxGroupsTotal int
	// RecordStatus, if set, says whether a policy domain publishes a
	// TLS-RPT record; known is false while that is not known yet, and the
	// function should then start a lookup without waiting for it (the
	// [Reporter] does, through a cache). It is called with the
	// recorder's lock held, once per new (day, domain, policy) entry, so
	// that domains that publish no record cannot crowd out those that do:
	// a domain known to publish none takes no entry (its results count
	// in Stats().NoRecord), and domains not yet known take at most half
	// of MaxPolicies. Call [Recorder.Resolved] with each answer.
	RecordStatus func(domain string) (publishes, known bool)
}

// Recorder counts session results per policy domain, policy and UTC day,
// and turns a finished day into reports. It is safe for concurrent use;
// Record takes one short critical section and allocates only for the first
// result of a new group.
type Recorder struct {
	clock          func() time.Time
	maxGroups      int
	maxPolicies    int
	maxBytes       int
	maxGroupsTotal int

	mu        sync.Mutex
	policies  map[policyKey]*counts
	memo      map[*policy.Policy]policyText
	pids      map[string]uint64 // policy text → id
	pidRefs   map[uint64]int    // entries using each id
	nextPID   uint64
	tlsaMemo  map[string]string // TLSA record as given → presentation form, "" if invalid
	stats     Stats
	status    func(string) (bool, bool)
	unknown   int             // entries of domains whose record status is not known
	textBytes int             // of the policies' texts kept in entries
	groups    int             // failure groups of all entries
	restored  map[string]bool // ids of the snapshots restored
	lastDay   int64           // the newest day seen; older days are expired from it
}

type policyKey struct {
	day    int64 // days since 1970-01-01 UTC
	domain string
	typ    PolicyType
	pid    uint64 // the policy's text, interned (hashing the text cost half of Record); 0 for none
}

type policyText struct {
	text      string
	lines, mx []string
	pid       uint64 // if known; 0 when not interned yet (or no text)
}

type counts struct {
	text             string // the policy's key text: lines, NUL, mx
	lines, mx        []string
	success, failure uint64
	ungrouped        uint64 // failures beyond the group cap
	unknown          bool   // admitted before the domain's record status was known
	groups           map[failureKey]group
}

type failureKey struct {
	result             validate.ResultType
	sending, receiving netip.Addr
	mx, helo, reason   string
}

type group struct {
	n    uint64
	info string
}

// NewRecorder returns an empty recorder.
func NewRecorder(opts Options) *Recorder {
	r := &Recorder{
		clock:          opts.Clock,
		maxGroups:      opts.MaxFailureGroups,
		maxPolicies:    opts.MaxPolicies,
		maxBytes:       opts.MaxPolicyBytes,
		status:         opts.RecordStatus,
		maxGroupsTotal: opts.MaxGroupsTotal,
		policies:       make(map[policyKey]*counts),
		memo:           make(map[*policy.Policy]policyText),
		pids:           make(map[string]uint64),
		pidRefs:        make(map[uint64]int),
		tlsaMemo:       make(map[string]string),
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.maxGroups <= 0 {
		r.maxGroups = DefaultMaxFailureGroups
	}
	if r.maxPolicies <= 0 {
		r.maxPolicies = DefaultMaxPolicies
	}
	if r.maxBytes <= 0 {
		r.maxBytes = DefaultMaxPolicyBytes
	}
	if r.maxGroupsTotal <= 0 {
		r.maxGroupsTotal = DefaultMaxGroupsTotal
	}
	return r
}

// Record counts one result in the current UTC day. A result that is not
// valid is refused with a [*ResultError] and counted in Stats().Invalid:
// an invalid domain, policy type or result type; a policy type of sts
// without a policy (unless the result is an sts policy fetch failure) or
// of tlsa without records; a TLSA record not in presentation form. An
// MTA-STS policy of mode none is recorded as no-policy-found (RFC 8461
// section 5 treats it as no policy). An AdditionalInfo that is not an
// absolute URI of at most 1024 bytes is left out (never cut) and counted
// in Stats().InfoDropped. Results for a new (domain, policy) beyond the
// limits of Options are dropped and counted (Stats().OverLimit).
//
// Record does not block on I/O and, once a group exists, allocates
// nothing for an sts, no-policy-found or failure result.
func (r *Recorder) Record(res Result) error {
	_, err := r.record(&res, nil)
	return err
}

// record counts res, and reports whether it was kept; if so and j is not
// nil, *j is set to the journal entry that replays it.
func (r *Recorder) record(res *Result, j *journalEntry) (bool, error) {
	domain, ok := canonDomain(res.Domain)
	if !ok {
		return false, r.invalid("domain", res.Domain, ErrBadResult)
	}
	typ, pol := res.Type, res.Policy
	if typ == PolicyTLSA {
		pol = nil
	}
	if pol != nil && pol.Mode == policy.ModeNone && (typ == "" || typ == PolicySTS) {
		typ, pol = PolicyNone, nil
	}
	if typ == "" {
		typ = PolicyNone
		if pol != nil || isSTSFailure(res.ResultType) {
			typ = PolicySTS
		}
	}
	switch {
	case !typ.Valid():
		return false, r.invalid("type", string(typ), ErrBadResult)
	case res.ResultType != "" && !res.ResultType.Valid():
		return false, r.invalid("result-type", string(res.ResultType), ErrBadResult)
	case typ == PolicySTS && pol == nil && len(res.PolicyString) == 0 && !isSTSFailure(res.ResultType),
		typ == PolicyTLSA && len(res.PolicyString) == 0 && res.ResultType != validate.ResultDNSSECInvalid:
		return false, r.invalid("policy-string", "", ErrNoPolicy)
	}
	var fk failureKey
	if res.ResultType != "" {
		fk = failureKey{
			result:    res.ResultType,
			sending:   reportAddr(res.SendingIP),
			receiving: reportAddr(res.ReceivingIP),
			helo:      capText(res.ReceivingHELO),
			reason:    capText(res.ReasonCode),
		}
		if res.ReceivingMX != "" {
			fk.mx, _ = canonDomain(res.ReceivingMX) // invalid: left out
		}
	}
	info := res.AdditionalInfo
	infoBad := info != "" && res.ResultType != "" && !isAbsoluteURI(info)
	if infoBad {
		info = ""
	}
	day := dayOf(r.clock())

	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(day)
	var pt policyText
	switch {
	case typ == PolicyNone:
	case pol != nil:
		pt = r.policyText(pol)
	case typ == PolicyTLSA:
		var bad string
		if pt, bad = r.tlsaText(res.PolicyString, res.MXHost); bad != "" {
			r.stats.Invalid++
			return false, &ResultError{Field: "policy-string", Value: bad, Err: ErrBadTLSA}
		}
	default:
		pt = newPolicyText(res.PolicyString, res.MXHost)
	}
	c, why := r.entry(day, domain, typ, pt, true)
	if c == nil {
		*why++
		return false, nil
	}
	if infoBad {
		r.stats.InfoDropped++
	}
	if j != nil {
		*j = journalEntry{Op: "r", Day: day, Domain: domain, Type: typ, Text: pt.text, failureWire: wireOf(fk, info)}
	}
	if res.ResultType == "" {
		c.success++
		return true, nil
	}
	c.failure++
	r.addGroup(c, fk, 1, info)
	return true, nil
}

// invalid counts a refused result and returns its error.
func (r *Recorder) invalid(field, value string, err error) error {
	r.mu.Lock()
	r.stats.Invalid++
	r.mu.Unlock()
	return &ResultError{Field: field, Value: value, Err: err}
}

// policyText renders p once per pointer; r.mu is held.
func (r *Recorder) policyText(p *policy.Policy) policyText {
	if pt, ok := r.memo[p]; ok {
		return pt
	}
	if len(r.memo) >= maxMemo {
		clear(r.memo)
		for text, pid := range r.pids { // ids no entry uses
			if r.pidRefs[pid] == 0 {
				delete(r.pids, text)
			}
		}
	}
	lines := strings.Split(strings.TrimSuffix(p.String(), "\r\n"), "\r\n")
	pt := newPolicyText(lines, slices.Clone(p.MX))
	if pid, ok := r.pids[pt.text]; ok {
		pt.pid = pid
	} else {
		pt.pid = r.intern(pt.text)
	}
	r.memo[p] = pt
	return pt
}

// newPolicyText joins lines and mx into the text of a policy's key, and
// returns them as pieces of that one text, so that an entry keeps a policy
// once; no lines and no mx give the zero policyText.
func newPolicyText(lines, mx []string) policyText {
	if len(lines) == 0 && len(mx) == 0 {
		return policyText{}
	}
	text := strings.Join(lines, "\n") + "\x00" + strings.Join(mx, "\n")
	l, m, _ := strings.Cut(text, "\x00")
	return policyText{text: text, lines: splitNonEmpty(l, len(lines)), mx: splitNonEmpty(m, len(mx))}
}

// splitNonEmpty splits s at newlines into n pieces, or returns nil for n 0.
func splitNonEmpty(s string, n int) []string {
	if n == 0 {
		return nil
	}
	return strings.SplitN(s, "\n", n)
}

// maxText bounds the texts of a failure detail (HELO, reason code,
// additional information), which may come from the remote server.
const maxText = 255

// capText cuts s to maxText bytes at a character boundary, and makes it
// valid UTF-8.
func capText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxText {
		return s
	}
	n := maxText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Stats counts what a [Recorder] did not keep. Each count only grows.
type Stats struct {
	// Invalid results were refused by Record (see [ResultError]).
	Invalid uint64
	// OverLimit results were dropped for want of room: a new (day,
	// domain, policy) entry beyond Options.MaxPolicies or MaxPolicyBytes.
	OverLimit uint64
	// InfoDropped additional-information values were left out of a
	// failure detail, not being an absolute URI of at most 1024 bytes.
	InfoDropped uint64
	// NoRecord sessions were not kept, their domain publishing no
	// TLS-RPT record (see Options.RecordStatus).
	NoRecord uint64
	// Expired sessions were forgotten unreported: their day ended more
	// than 48 hours ago.
	Expired uint64
}

// Stats returns what the recorder did not keep.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Dropped returns how many results were not counted: invalid ones,
// those beyond the limits of Options, and those of domains that publish
// no record (Stats().Invalid + OverLimit + NoRecord).
func (r *Recorder) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats.Invalid + r.stats.OverLimit + r.stats.NoRecord
}

// Days returns the UTC days (at 00:00:00Z) that have results, oldest
// first.
func (r *Recorder) Days() []time.Time {
	r.mu.Lock()
	r.expire(dayOf(r.clock()))
	var days []int64
	for k := range r.policies {
		days = append(days, k.day)
	}
	r.mu.Unlock()
	slices.Sort(days)
	days = slices.Compact(days)
	out := make([]time.Time, len(days))
	for i, d := range days {
		out[i] = dayTime(d)
	}
	return out
}

// Forget deletes the results of the UTC day that contains day: for the
// given policy domains, or for all when none is given. Call it once the
// day's reports are delivered (or given up on).
func (r *Recorder) Forget(day time.Time, domains ...string) {
	d := dayOf(day)
	if len(domains) == 0 {
		r.forget(d, "")
	}
	for _, s := range domains {
		if c, ok := canonDomain(s); ok {
			r.forget(d, c)
		}
	}
}

// forget deletes the entries of day d, of domain (canonical) or of all
// domains when it is "".
func (r *Recorder) forget(d int64, domain string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, c := range r.policies {
		if k.day == d && (domain == "" || k.domain == domain) {
			r.remove(k, c)
		}
	}
}

func isSTSFailure(t validate.ResultType) bool {
	switch t {
	case validate.ResultSTSPolicyFetchError, validate.ResultSTSPolicyInvalid, validate.ResultSTSWebPKIInvalid:
		return true
	}
	return false
}

// reportAddr returns a as reports write it: IPv4-mapped IPv6 addresses as
// IPv4, no zone.
func reportAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

const secondsPerDay = 86400

func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d--
	}
	return d
}

func dayTime(d int64) time.Time {
	return time.Unix(d*secondsPerDay, 0).UTC()
}

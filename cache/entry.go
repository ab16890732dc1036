package cache

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mtasts-go/mtasts/policy"
)

// Entry is what the cache knows about one policy domain: the policy in force
// and its id, when it was fetched and expires, when its TXT record was last
// checked, and the last failed fetch.
//
// An Entry is immutable: it is built by [NewEntry] or [NoPolicy], and the
// With methods return modified copies. A cache or store may hand the same
// *Entry to many goroutines at once; nobody changes it, so nobody locks it.
// To change what is cached for a domain, [Cache.Put] a new entry.
//
// Times are kept to the second, like max_age itself, from 1970 to 2106
// (earlier and later times are clamped). The fields are private so that a
// stored entry cannot be changed under its readers, and so that a million
// entries fit in little memory (see the package documentation).
type Entry struct {
	domain  string
	id      string
	policy  *policy.Policy
	failure *Failure // nil when the last fetch succeeded or none failed
	// Unix seconds, in 32 bits so that a node in memory is 64 bytes.
	expires uint32 // the last second in which the entry is usable
	checked uint32
}

// Failure records a failed attempt to fetch a domain's policy, so that a
// resolver can back off per (domain, id) and report the cause. It is stored
// with the entry, so it survives a restart and is shared through a shared
// store.
type Failure struct {
	// At is when the fetch was attempted (kept to the second).
	At time.Time
	// ID is the policy id that the fetch tried to get: the id of the TXT
	// record at the time, which may differ from the cached policy's.
	ID string
	// Err says what went wrong, as text: errors do not survive a store.
	Err string
}

// maxFailureText bounds Failure.Err, so that a hostile server cannot make
// entries large through its error messages.
const maxFailureText = 1024

// NewEntry returns the entry of policy p of domain, fetched at fetched,
// whose TXT record had the given id. The entry expires p.MaxAge seconds after
// fetched and counts as checked at fetched.
//
// domain is the cache key: the normalised policy domain (lower case,
// A-labels, no trailing dot), as the caller looks it up. A policy whose
// max_age is 0 gives an entry valid only in the second of its fetch: it may
// be used for the delivery at hand, and [Cache.Put] does not keep it.
//
// p is shared, not copied: it must not be modified afterwards. A nil p gives
// the same entry as [NoPolicy] expiring at once.
func NewEntry(domain, id string, p *policy.Policy, fetched time.Time) *Entry {
	t := fetched.Unix()
	e := &Entry{domain: domain, policy: p, expires: unix32(t), checked: unix32(t)}
	if p != nil {
		// A record's id may share memory with the whole TXT answer.
		e.id = strings.Clone(id)
		e.expires = unix32(t + int64(p.MaxAge))
	}
	return e
}

// NoPolicy returns a negative entry: domain was checked at checked and has no
// usable policy (no STSv1 record, or one whose policy could not be fetched),
// and the caller wants to remember that until expires. Its Policy is nil and
// its ID empty.
//
// Negative entries let a resolver spare a TXT query per delivery to the
// many domains without MTA-STS, and remember a failed fetch (with
// [Entry.WithFailure]) for its backoff. RFC 8461 knows no such thing, so
// their lifetime is the caller's choice, and the caller must never put one
// in place of an unexpired policy (RFC 8461 section 3.3 and 5.1: the cached
// policy applies until it expires). The cache does not enforce that:
// [Cache.Put] replaces.
func NoPolicy(domain string, checked, expires time.Time) *Entry {
	return &Entry{domain: domain, expires: unix32(expires.Unix()), checked: unix32(checked.Unix())}
}

// WithCheckedAt returns a copy of e whose TXT record was last checked at t,
// such as after a revalidation that found the same id.
func (e *Entry) WithCheckedAt(t time.Time) *Entry {
	c := *e
	c.checked = unix32(t.Unix())
	return &c
}

// WithFailure returns a copy of e that records a failed fetch; the policy and
// expiry are unchanged (a failure never shortens a valid policy's life, RFC
// 8461 section 3.3). The failure's time is rounded down to the second and
// its text is capped at 1 KiB.
func (e *Entry) WithFailure(f Failure) *Entry {
	f.At = time.Unix(f.At.Unix(), 0).UTC()
	f.Err = failureText(f.Err)
	c := *e
	c.failure = &f
	return &c
}

// failureText makes s valid UTF-8 of at most maxFailureText bytes, cut at a
// character boundary, so that it encodes and decodes to itself: the text
// often quotes what a remote server sent, and it must never make the entry
// that carries it unreadable.
func failureText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxFailureText {
		return s
	}
	n := maxFailureText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// WithoutFailure returns a copy of e with no failure recorded.
func (e *Entry) WithoutFailure() *Entry {
	c := *e
	c.failure = nil
	return &c
}

// Domain returns the policy domain, the key of the entry.
func (e *Entry) Domain() string { return e.domain }

// ID returns the id of the policy, from the TXT record that announced it; ""
// for a negative entry.
func (e *Entry) ID() string { return e.id }

// Policy returns the cached policy, which may have mode none, or nil for a
// negative entry ([NoPolicy]). The policy is shared: it must not be
// modified.
func (e *Entry) Policy() *policy.Policy { return e.policy }

// FetchedAt returns when the policy was fetched, or the zero time for a
// negative entry.
func (e *Entry) FetchedAt() time.Time {
	if e.policy == nil {
		return time.Time{}
	}
	return time.Unix(int64(e.expires)-int64(e.policy.MaxAge), 0).UTC()
}

// Expires returns when the entry stops being usable: FetchedAt plus max_age
// for a policy.
func (e *Entry) Expires() time.Time { return time.Unix(int64(e.expires), 0).UTC() }

// Expired reports whether the entry is no longer usable at now, to the
// second: a policy is valid up to and including its fetch time plus max_age
// (RFC 8461 section 3.2), so an entry expiring at 12:00:00 is usable
// through 12:00:00.999 and expired from 12:00:01.
func (e *Entry) Expired(now time.Time) bool { return now.Unix() > int64(e.expires) }

// CheckedAt returns when the TXT record was last checked: the fetch time,
// or a later revalidation ([Entry.WithCheckedAt]).
func (e *Entry) CheckedAt() time.Time { return time.Unix(int64(e.checked), 0).UTC() }

// LastFailure returns the last failed fetch, if one is recorded.
func (e *Entry) LastFailure() (Failure, bool) {
	if e.failure == nil {
		return Failure{}, false
	}
	return *e.failure, true
}

// keep reports whether the entry is worth storing: one that expires no
// later than its last check (max_age 0) is used once and dropped.
func (e *Entry) keep() bool { return e.expires > e.checked }

// maxDomain bounds the key: a domain name has at most 253 characters.
const maxDomain = 255

func (e *Entry) valid() bool {
	return e != nil && e.domain != "" && len(e.domain) <= maxDomain
}

// unix32 clamps Unix seconds to the range of an Entry's times.
func unix32(s int64) uint32 {
	switch {
	case s < 0:
		return 0
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

package dane

import (
	"crypto"
	"crypto/x509"
	"slices"
)

// Set is the TLSA RRset of one SMTP server, found at its TLSA base domain
// (the MX host name, or the name a secure CNAME of it leads to; RFC 7672
// section 2.2.3), split into the records that authenticate the server and
// those that are ignored. Build it with [NewSet] from DNSSEC-validated
// records only: the package trusts the DNS answer as given.
//
// A Set is immutable and safe for concurrent use.
type Set struct {
	base    string
	names   []string // base alone: the reference identifiers by default
	records []Record // the RRset as given
	ee, ta  []Record // the usable records, by usage
	ignored []Ignored

	// Trust anchors carried in full by DANE-TA records: used even when the
	// server leaves them out of its chain (RFC 7671 section 5.2.2).
	taCerts []*x509.Certificate // 2 0 0
	taKeys  []crypto.PublicKey  // 2 1 0, of an algorithm crypto/x509 knows
}

// Ignored is a record of a Set that is not used, and why: one of the
// errors of [Record.Check], or [ErrWeakerDigest].
type Ignored struct {
	Record Record
	Err    error
}

// digestStrength orders the digest matching types from weakest to
// strongest: a client's preference of RFC 7671 section 9. Full(0) is not a
// digest and takes no part.
func digestStrength(m MatchingType) int {
	switch m {
	case SHA256:
		return 1
	case SHA512:
		return 2
	}
	return 0
}

// NewSet returns the Set of the TLSA records found at base, the TLSA base
// domain, which is the primary reference identifier for DANE-TA name
// checks and the name to send in SNI (RFC 7672 sections 2.2.3 and 3.2.3).
// It fails only if base is not a host name ([ErrInvalidName]).
//
// A record is used if [Record.Check] passes and no record of the same
// usage and selector has a stronger digest: digest algorithm agility (RFC
// 7671 section 9). With "3 1 0", "3 1 1" and "3 1 2" in the RRset, a
// server key that matches "3 1 0" or "3 1 2" is accepted, but one that
// matches only "3 1 1" is not. Full(0) records are not digests and are
// always used; SHA2-512(2) is stronger than SHA2-256(1). Only usable
// records take part: a malformed SHA-512 record does not hide a good
// SHA-256 one, or one bad record would make a whole RRset unusable.
//
// The records are copied.
func NewSet(base string, records []Record) (*Set, error) {
	b, ok := canonicalName(base)
	if !ok {
		return nil, &NameError{Name: base}
	}
	s := &Set{base: b, names: []string{b}, records: make([]Record, len(records))}
	for i, r := range records {
		r.Data = slices.Clone(r.Data)
		s.records[i] = r
	}
	// The strongest digest of each usable (usage, selector).
	var strongest [4][2]int
	usable := make([]bool, len(s.records))
	for i, r := range s.records {
		if err := r.Check(); err != nil {
			s.ignored = append(s.ignored, Ignored{Record: r, Err: err})
			continue
		}
		usable[i] = true
		k := &strongest[r.Usage][r.Selector]
		*k = max(*k, digestStrength(r.MatchingType))
	}
	for i, r := range s.records {
		if !usable[i] {
			continue
		}
		if d := digestStrength(r.MatchingType); d > 0 && d < strongest[r.Usage][r.Selector] {
			s.ignored = append(s.ignored, Ignored{Record: r, Err: ErrWeakerDigest})
			continue
		}
		if r.Usage == DANEEE {
			s.ee = append(s.ee, r)
			continue
		}
		s.ta = append(s.ta, r)
		if r.MatchingType != Full {
			continue
		}
		if r.Selector == Cert {
			if c, err := x509.ParseCertificate(r.Data); err == nil {
				s.taCerts = append(s.taCerts, c)
			}
		} else if k, err := x509.ParsePKIXPublicKey(r.Data); err == nil {
			s.taKeys = append(s.taKeys, k)
		}
	}
	return s, nil
}

// Base returns the TLSA base domain, in canonical form (A-labels, lower
// case, no trailing dot).
func (s *Set) Base() string { return s.base }

// Records returns the records of the RRset, usable or not, in the order
// given to NewSet.
func (s *Set) Records() []Record { return slices.Clone(s.records) }

// Usable returns the records that authenticate the server: DANE-EE first,
// then DANE-TA, each in the order given to NewSet.
func (s *Set) Usable() []Record { return append(slices.Clone(s.ee), s.ta...) }

// IsUsable reports whether the Set has a usable record. A DNSSEC-validated
// RRset without one still makes TLS mandatory, but cannot authenticate the
// server (RFC 7672 section 2.2).
func (s *Set) IsUsable() bool { return len(s.ee)+len(s.ta) > 0 }

// Ignored returns the records that are not used, and why.
func (s *Set) Ignored() []Ignored { return slices.Clone(s.ignored) }

// PolicyStrings returns every record of the RRset in presentation form
// ([Record.String]), in the order given to NewSet: the policy-string of a
// TLS-RPT report for policy-type "tlsa" (RFC 8460 section 4.5).
func (s *Set) PolicyStrings() []string {
	out := make([]string, len(s.records))
	for i, r := range s.records {
		out[i] = r.String()
	}
	return out
}

package validate

import (
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/mtasts-go/mtasts/policy"
)

// Limits of the DNS (RFC 1035 section 2.3.4): a longer name cannot be an MX
// host, whatever it is compared with.
const (
	maxLabelLen = 63
	maxNameLen  = 253 // without the root dot
)

// MatchMX reports whether the MX host name host matches pattern, an mx
// pattern of an MTA-STS policy (RFC 8461 section 4.1, which follows RFC 6125
// section 6.4):
//
//   - "mail.example.com" matches that name only;
//   - "*.example.com" matches a name with exactly one more label on the left:
//     "mail.example.com", but neither "example.com" nor
//     "foo.mail.example.com";
//   - comparison is case-insensitive (ASCII), and one trailing dot on host
//     (the DNS root) is ignored;
//   - a host given with U-labels ("mx.bücher.example") is converted to
//     A-labels ("mx.xn--bcher-kva.example") with the Lookup profile of
//     golang.org/x/net/idna before it is compared;
//   - an empty or malformed host (an empty label, a character other than a
//     letter, digit or inner hyphen, a label over 63 or a name over 253
//     octets, an all-numeric last label such as an IP address) never
//     matches.
//
// pattern must be a valid mx pattern ([policy.ValidPattern]), as every
// pattern of a parsed or validated [policy.Policy] is. The syntax of the
// pattern is not checked again on every call: a host that equals a valid
// pattern but for case is itself valid, so checking the host where the
// pattern does not fix it (the label a wildcard stands for) is enough, and
// the common case costs one length test and one memory comparison. With
// an invalid pattern MatchMX is still safe, and a match still means that
// the host ends in the pattern's text, but a malformed host may then match.
//
// MatchMX does not allocate unless host has non-ASCII characters. It is
// safe for concurrent use.
func MatchMX(pattern, host string) bool {
	h := trimDot(host)
	return matchName(pattern, h) || matchIDN(pattern, h)
}

// matchIDN is the second chance of MatchMX: a host with U-labels cannot
// have matched as given, so it is tried again in A-labels. This costs a
// scan of the host on the way to "no", never on the way to "yes".
func matchIDN(pattern, h string) bool {
	if isASCII(h) {
		return false
	}
	a, ok := toALabels(h)
	return ok && matchName(pattern, a)
}

// Allows reports whether host matches at least one mx pattern of p, by the
// rules of [MatchMX]. Mode is not looked at: whether a mismatch matters is
// the mode's business (a policy of mode none may list no patterns at all).
// A nil policy allows nothing. Allows does not allocate unless host has
// non-ASCII characters; the host is converted once for all patterns.
func Allows(p *policy.Policy, host string) bool {
	if p == nil {
		return false
	}
	h := trimDot(host)
	if allowsASCII(p, h) {
		return true
	}
	if isASCII(h) {
		return false
	}
	a, ok := toALabels(h)
	return ok && allowsASCII(p, a)
}

// MX checks that host matches a pattern of p, as [Allows] does, and
// returns nil or an [*Error] wrapping [ErrInvalidHost] or [ErrMXMismatch],
// with result type [ResultValidationFailure]: RFC 8460 has no dedicated
// type for an MX host outside the policy.
func MX(p *policy.Policy, host string) error {
	h, ok := canonicalHost(host)
	if !ok {
		return newError(host, ErrInvalidHost, nil)
	}
	if p == nil || !allowsASCII(p, h) {
		return newError(host, ErrMXMismatch, nil)
	}
	return nil
}

func allowsASCII(p *policy.Policy, h string) bool {
	for _, m := range p.MX {
		if matchName(m, h) {
			return true
		}
	}
	return false
}

// trimDot removes one trailing dot, the DNS root, from host.
func trimDot(host string) string {
	if n := len(host); n > 0 && host[n-1] == '.' {
		return host[:n-1]
	}
	return host
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// hostASCII strips one trailing dot from host and converts any U-labels to
// A-labels. It reports false for an empty host or one that IDNA rejects. It
// does not check the syntax of the result.
func hostASCII(host string) (string, bool) {
	host = trimDot(host)
	if !isASCII(host) {
		return toALabels(host)
	}
	return host, host != ""
}

// toALabels converts a host with non-ASCII characters to A-labels. The
// Lookup profile also maps: case, full-width forms, and the ideographic
// full stop to ".", hence the second look at a trailing dot.
func toALabels(host string) (string, bool) {
	if !utf8.ValidString(host) {
		return "", false // idna would read U+FFFD, and encode it
	}
	a, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return "", false
	}
	if n := len(a); n > 0 && a[n-1] == '.' {
		a = a[:n-1]
	}
	return a, a != ""
}

// canonicalHost returns host as it is compared and sent in SNI: A-labels,
// lower case, no trailing dot. It reports false if host is not a valid
// domain name.
func canonicalHost(host string) (string, bool) {
	h, ok := hostASCII(host)
	if !ok || !validName(h) {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return toLower(h), true
		}
	}
	return h, true
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// matchName reports whether host, in ASCII without a trailing dot, matches
// pattern, a name or "*." and a name. It serves both mx patterns and the
// DNS-IDs of certificates, which follow the same rule (RFC 6125 section
// 6.4.3, restricted by RFC 8461 section 4.1 and RFC 9525 to a wildcard
// that is the whole left-most label).
//
// Only the part of host that a wildcard stands for is checked for syntax:
// the rest must equal the pattern but for ASCII case, so it is as valid as
// the pattern is. Callers either hold valid patterns (a policy) or check
// host first (certificates, whose DNS-IDs are not trusted). This keeps the
// common case, a lower-case host, to one length test and one memory
// comparison.
func matchName(pattern, host string) bool {
	if len(pattern) > 2 && pattern[0] == '*' && pattern[1] == '.' {
		suffix := pattern[1:]        // the dot and the name
		n := len(host) - len(suffix) // the length of host's first label
		if n < 1 || len(host) > maxNameLen || !validLabel(host[:n]) {
			return false
		}
		rest := host[n:]
		return rest == suffix || equalFold(rest, suffix)
	}
	return len(host) == len(pattern) && len(host) > 0 && (host == pattern || equalFold(host, pattern))
}

// equalFold reports whether a and b, of the same length, are equal but for
// the case of ASCII letters. Unlike strings.EqualFold it knows nothing of
// Unicode: "K" (the Kelvin sign) is not "k" in a host name.
func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		if c, d := a[i], b[i]; c != d {
			if l := c | 0x20; l != d|0x20 || l < 'a' || l > 'z' {
				return false
			}
		}
	}
	return true
}

// validLabel reports whether s is one label of a host name: 1 to 63 ASCII
// letters, digits and hyphens, not beginning or ending with a hyphen.
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > maxLabelLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetterDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func isLetterDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z'
}

// validName reports whether h is a host name in ASCII: an RFC 5321 Domain
// (labels of letters, digits and inner hyphens) within the limits of the
// DNS, whose last label is not all digits (that would be an IP address).
// It is the check policy.ValidPattern makes of the mx patterns.
func validName(h string) bool {
	if len(h) == 0 || len(h) > maxNameLen {
		return false
	}
	numeric := true
	for start := 0; start <= len(h); {
		end := start
		for end < len(h) && h[end] != '.' {
			end++
		}
		if !validLabel(h[start:end]) {
			return false
		}
		numeric = true
		for i := start; i < end; i++ {
			if c := h[i]; c < '0' || c > '9' {
				numeric = false
				break
			}
		}
		start = end + 1
	}
	return !numeric
}

package policy

import "github.com/mtasts-go/mtasts/internal/txtrec"

// Name grammars of the record and policy parsers (the character classes
// and the extension grammar are txtrec's). All work on bytes and never
// allocate.

// isID reports whether s is a record id: 1 to 32 letters or digits.
func isID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !txtrec.IsAlphaNum(s[i]) {
			return false
		}
	}
	return true
}

// Domain name limits of the DNS (RFC 1035 section 2.3.4), which RFC 5321's
// Domain grammar leaves open: a name that cannot exist in the DNS cannot name
// an MX host.
const (
	maxLabelLen  = 63
	maxDomainLen = 253
)

// domainClass classifies bytes for checkDomain: 'a' letter or digit, '-',
// '.', and 'x' for anything else.
const domainClass = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-.xaaaaaaaaaaxxxxxx" +
	"xaaaaaaaaaaaaaaaaaaaaaaaaaaxxxxxxaaaaaaaaaaaaaaaaaaaaaaaaaaxxxxx" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

// checkDomain reports whether s is an RFC 5321 Domain in ASCII
// (sub-domain *("." sub-domain), each sub-domain letters, digits and inner
// hyphens), within DNS length limits. Upper-case letters are allowed; the
// caller folds them. numeric reports whether the last label is all digits,
// which no host name has (RFC 1123 section 2.1): such a value is an IP
// address written as a domain.
func checkDomain[T string | []byte](s T) (ok, numeric bool) {
	if len(s) == 0 || len(s) > maxDomainLen {
		return false, false
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := domainClass[s[i]]
		if c == 'a' {
			continue // the common case: one load, one compare
		}
		switch c {
		case '-':
			if i == start {
				return false, false
			}
		case '.':
			if i == start || i-start > maxLabelLen || s[i-1] == '-' {
				return false, false
			}
			start = i + 1
		default:
			return false, false
		}
	}
	if start == len(s) || len(s)-start > maxLabelLen || s[len(s)-1] == '-' {
		return false, false
	}
	numeric = true
	for i := start; i < len(s) && numeric; i++ {
		numeric = txtrec.IsDigit(s[i])
	}
	return true, numeric
}

// hasUpper reports whether s holds an ASCII upper-case letter.
func hasUpper[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

package policy

// Character classes and name grammars shared by the record and policy
// parsers. All work on bytes and never allocate.

func isAlpha(c byte) bool    { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool    { return c >= '0' && c <= '9' }
func isAlphaNum(c byte) bool { return isAlpha(c) || isDigit(c) }
func isWSP(c byte) bool      { return c == ' ' || c == '\t' }

// isExtName reports whether s is an extension name: a letter or digit, then
// up to 31 letters, digits, "_", "-" or "." (RFC 8461 sections 3.1 and 3.2).
func isExtName[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > 32 || !isAlphaNum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlphaNum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isRecordExtValue reports whether s is a TXT record extension value: one or
// more printable ASCII characters other than "=" and ";".
func isRecordExtValue(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '=' || c == ';' {
			return false
		}
	}
	return true
}

// isID reports whether s is a record id: 1 to 32 letters or digits.
func isID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlphaNum(s[i]) {
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
		numeric = isDigit(s[i])
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

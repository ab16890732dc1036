// Package txtrec holds what the parsers of the "v=...; key=value" TXT
// records of MTA-STS (RFC 8461 section 3.1) and TLS-RPT (RFC 8460 section 3)
// share: the character classes of their ABNF, the extension grammar the two
// RFCs spell alike, and the choice of the one record among the TXT strings
// of a name. Everything works on bytes and never allocates.
package txtrec

// IsAlpha reports whether c is an ASCII letter (ALPHA).
func IsAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// IsDigit reports whether c is an ASCII digit (DIGIT).
func IsDigit(c byte) bool { return c >= '0' && c <= '9' }

// IsAlphaNum reports whether c is ALPHA or DIGIT.
func IsAlphaNum(c byte) bool { return IsAlpha(c) || IsDigit(c) }

// IsWSP reports whether c is a space or a tab (WSP).
func IsWSP(c byte) bool { return c == ' ' || c == '\t' }

// TrimWSP removes the leading WSP of s.
func TrimWSP(s string) string {
	i := 0
	for i < len(s) && IsWSP(s[i]) {
		i++
	}
	return s[i:]
}

// IsExtName reports whether s is an extension name (sts-ext-name,
// sts-policy-ext-name, tlsrpt-ext-name): a letter or digit, then up to 31
// letters, digits, "_", "-" or ".".
func IsExtName[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > 32 || !IsAlphaNum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !IsAlphaNum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// IsExtValue reports whether s is a TXT record extension value
// (sts-ext-value, tlsrpt-ext-value): one or more of %x21-3A / %x3C /
// %x3E-7E, printable ASCII but "=" and ";".
func IsExtValue(s string) bool {
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

// Begins reports how s begins with the version tag v: delimited, followed
// by optional WSP and ";" (the field delimiter of both RFCs' ABNF); or bare,
// v and nothing else but WSP. "v=STSv10" or "v=STSv1 x" is neither.
func Begins(s, v string) (delimited, bare bool) {
	if len(s) < len(v) || s[:len(v)] != v {
		return false, false
	}
	for i := len(v); i < len(s); i++ {
		if !IsWSP(s[i]) {
			return s[i] == ';', false
		}
	}
	return false, true
}

// One returns the only string of txts that is (a record of the kind that
// is recognises), and n, how many there are, counted up to 2: both RFCs
// discard the other TXT strings of the name and want exactly one record.
func One(txts []string, is func(string) bool) (rec string, n int) {
	for _, s := range txts {
		if !is(s) {
			continue
		}
		if n++; n > 1 {
			return "", n
		}
		rec = s
	}
	return rec, n
}

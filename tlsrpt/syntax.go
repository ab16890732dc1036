package tlsrpt

import (
	"github.com/mtasts-go/mtasts/internal/txtrec"

	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Character classes and small grammars of the record parser. They work on
// bytes and never allocate.

func isHex(c byte) bool { return txtrec.IsDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// isURIChar reports whether c may appear literally in a tlsrpt-uri: the
// characters of RFC 3986 (unreserved, gen-delims, sub-delims, and the "%"
// of pct-encoded) less ",", "!" and ";", which RFC 8460 requires encoded.
func isURIChar(c byte) bool {
	if txtrec.IsAlphaNum(c) {
		return true
	}
	switch c {
	case '-', '.', '_', '~', // unreserved
		':', '/', '?', '#', '[', ']', '@', // gen-delims
		'$', '&', '\'', '(', ')', '*', '+', '=', // sub-delims but ! , ;
		'%':
		return true
	}
	return false
}

// checkURI checks that s is an absolute URI (RFC 3986) written as RFC 8460
// demands, and reports whether its scheme is one that TLS-RPT supports: an
// https URI with a host, or a mailto URI with an address (local@domain,
// possibly percent-encoded; one that is not returns an error wrapping
// ErrUnusableURI). URIs of other schemes are only checked for syntax.
func checkURI(s string) (supported bool, err error) {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || !txtrec.IsAlpha(s[0]) {
		return false, ErrBadURI
	}
	for i := 1; i < colon; i++ {
		if c := s[i]; !txtrec.IsAlphaNum(c) && c != '+' && c != '-' && c != '.' {
			return false, ErrBadURI
		}
	}
	hash := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false, ErrBadURI
			}
		case c == '#':
			if hash {
				return false, ErrBadURI
			}
			hash = true
		case !isURIChar(c):
			return false, ErrBadURI
		}
	}
	scheme, rest := s[:colon], s[colon+1:]
	switch {
	case strings.EqualFold(scheme, "https"):
		if !strings.HasPrefix(rest, "//") {
			return false, ErrBadURI
		}
		auth := rest[2:]
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		if i := strings.LastIndexByte(auth, '@'); i >= 0 {
			auth = auth[i+1:]
		}
		host := auth
		if i := strings.LastIndexByte(auth, ':'); i >= 0 && !strings.HasSuffix(auth, "]") {
			host = auth[:i]
			for j := i + 1; j < len(auth); j++ {
				if !txtrec.IsDigit(auth[j]) {
					return false, ErrBadURI
				}
			}
		}
		if host == "" {
			return false, ErrBadURI
		}
		return true, nil
	case strings.EqualFold(scheme, "mailto"):
		// A valid URI whose address cannot be used is not a syntax error
		// of the record (RFC 8460 section 3): the error wraps
		// ErrUnusableURI.
		if _, err := mailtoAddress(s); err != nil {
			return true, err
		}
		return true, nil
	}
	return false, nil
}

// canonDomain returns a domain name as reports and DNS names carry it:
// lower case, A-labels, no trailing dot. It reports false for a name that
// is not a valid host name. ASCII names in that form already (the common
// case) are returned without allocating.
func canonDomain(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if ok, lower := checkHost(name); ok {
		if !lower {
			name = strings.ToLower(name)
		}
		return name, true
	}
	if isASCIIString(name) || !utf8.ValidString(name) {
		return "", false
	}
	a, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", false
	}
	a = strings.TrimSuffix(a, ".")
	if ok, _ := checkHost(a); !ok {
		return "", false
	}
	return strings.ToLower(a), true
}

// checkHost reports whether s is an ASCII host name (letters, digits and
// inner hyphens in labels of 1 to 63, at most 253 in all) and whether it is
// in lower case already.
func checkHost(s string) (ok, lower bool) {
	if len(s) == 0 || len(s) > 253 {
		return false, false
	}
	lower = true
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			n := i - start
			if n == 0 || n > 63 || s[start] == '-' || s[i-1] == '-' {
				return false, false
			}
			start = i + 1
			continue
		}
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', txtrec.IsDigit(c), c == '-':
		case c >= 'A' && c <= 'Z':
			lower = false
		default:
			return false, false
		}
	}
	return true, lower
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

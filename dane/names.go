package dane

import (
	"crypto/x509"
	"strconv"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/mtasts-go/mtasts/validate"
)

// NameError reports a TLSA base domain or reference identifier that is not
// a host name. It wraps [ErrInvalidName].
type NameError struct {
	Name string
}

// Error returns "dane: invalid host name "<name>"".
func (e *NameError) Error() string { return "dane: invalid host name " + strconv.Quote(e.Name) }

// Unwrap returns ErrInvalidName.
func (e *NameError) Unwrap() error { return ErrInvalidName }

// canonicalName returns name as names are compared and sent in SNI:
// A-labels, lower case, without the trailing dot. It reports false unless
// name is a host name: labels of 1 to 63 letters, digits and inner
// hyphens, 253 octets at most, the last label not all digits.
func canonicalName(name string) (string, bool) {
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			if !utf8.ValidString(name) {
				return "", false
			}
			a, err := idna.Lookup.ToASCII(name)
			if err != nil {
				return "", false
			}
			if n := len(a); n > 0 && a[n-1] == '.' {
				a = a[:n-1]
			}
			name = a
			break
		}
	}
	if !validName(name) {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j, c := range b {
				if 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b), true
		}
	}
	return name, true
}

func validName(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	numeric := true
	for start := 0; start <= len(h); {
		end := start
		for end < len(h) && h[end] != '.' {
			end++
		}
		label := h[start:end]
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		numeric = true
		for i := 0; i < len(label); i++ {
			c := label[i]
			isDigit := '0' <= c && c <= '9'
			if !isDigit && (c|0x20 < 'a' || c|0x20 > 'z') && c != '-' {
				return false
			}
			numeric = numeric && isDigit
		}
		start = end + 1
	}
	return !numeric
}

// canonicalNames returns base followed by the names of extra, in
// canonical form and without repeats, or the first invalid name.
func canonicalNames(base string, extra []string) ([]string, error) {
	names := make([]string, 1, 1+len(extra))
	names[0] = base
	for _, n := range extra {
		c, ok := canonicalName(n)
		if !ok {
			return nil, &NameError{Name: n}
		}
		if !contains(names, c) {
			names = append(names, c)
		}
	}
	return names, nil
}

func contains(names []string, n string) bool {
	for _, m := range names {
		if m == n {
			return true
		}
	}
	return false
}

// matchNames reports whether leaf is issued for one of names, canonical
// host names, by the rules of RFC 7672 section 3.2.3 (RFC 6125): the
// DNS-IDs (dNSName of the subject alternative names) if there are any,
// else the subject common name; a wildcard only as the whole left-most
// label, standing for exactly one label; ASCII case and a trailing dot
// ignored.
func matchNames(leaf *x509.Certificate, names []string) bool {
	if len(leaf.DNSNames) == 0 {
		return matchID(leaf.Subject.CommonName, names)
	}
	for _, id := range leaf.DNSNames {
		if matchID(id, names) {
			return true
		}
	}
	return false
}

// matchID reports whether the presented identifier id matches one of
// names. The names are valid host names, which is what validate.MatchMX
// needs to compare them safely with an untrusted pattern.
func matchID(id string, names []string) bool {
	if n := len(id); n > 0 && id[n-1] == '.' {
		id = id[:n-1]
	}
	if id == "" {
		return false
	}
	for _, n := range names {
		if validate.MatchMX(id, n) {
			return true
		}
	}
	return false
}

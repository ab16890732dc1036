package resolver

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// ErrInvalidDomain is wrapped by the error for a domain or host name that is
// not a valid DNS name (after U-labels are converted to A-labels).
var ErrInvalidDomain = errors.New("invalid domain name")

// DomainError reports an input that is not a usable domain name.
type DomainError struct {
	Name string // the input as given
	Err  error  // what is wrong with it: ErrInvalidDomain, wrapped with the detail
}

// Error names the input and what is wrong with it.
func (e *DomainError) Error() string {
	return fmt.Sprintf("resolver: %q: %v", e.Name, e.Err)
}

// Unwrap returns the cause, which wraps ErrInvalidDomain.
func (e *DomainError) Unwrap() error { return e.Err }

// Normalize returns name as the resolver uses it: lower case, A-labels, no
// trailing dot. Names that are already in that form (the common case) are
// returned as they are, without allocating.
func Normalize(name string) (string, error) {
	if n, ok := normalizeASCII(name); ok {
		return n, nil
	}
	s := strings.TrimSuffix(name, ".")
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", &DomainError{Name: name, Err: fmt.Errorf("%w: %v", ErrInvalidDomain, err)}
	}
	if n, ok := normalizeASCII(a); ok && !strings.HasSuffix(a, ".") {
		return n, nil
	}
	return "", &DomainError{Name: name, Err: ErrInvalidDomain}
}

// hostClass classifies the bytes of a host name: 'l' lower-case letter or
// digit, 'U' upper-case letter, '-', '.', and 'x' for anything else.
const hostClass = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-.xllllllllllxxxxxx" +
	"xUUUUUUUUUUUUUUUUUUUUUUUUUUxxxxxxllllllllllllllllllllllllllxxxxx" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

// normalizeASCII handles ASCII names: a valid host name (letters, digits,
// inner hyphens, labels of 1 to 63, at most 253 in all, at least two labels,
// the last not all digits)
// is returned in lower case without a trailing dot. Upper-case names cost
// one allocation. It runs on every Check, so it is one table-driven pass.
func normalizeASCII(name string) (string, bool) {
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	if len(name) == 0 || len(name) > 253 {
		return "", false
	}
	upper, dots, start := false, 0, 0
	for i := 0; i < len(name); i++ {
		c := hostClass[name[i]]
		if c == 'l' {
			continue // the common case: one load, one compare
		}
		switch c {
		case 'U':
			upper = true
		case '-':
			if i == start {
				return "", false // a label starts with a hyphen
			}
		case '.':
			if i == start || i-start > 63 || name[i-1] == '-' {
				return "", false // an empty or long label, or one ending in a hyphen
			}
			dots++
			start = i + 1
		default:
			return "", false
		}
	}
	// RFC 5321 section 2.3.5: no unqualified names.
	if start == len(name) || len(name)-start > 63 || name[len(name)-1] == '-' || dots == 0 {
		return "", false
	}
	// RFC 1123 section 2.1: a top-level label is never all digits, so a
	// name like 192.0.2.1 is an address, which has no policy (RFC 8461
	// section 3.4).
	numeric := true
	for i := start; i < len(name) && numeric; i++ {
		numeric = name[i] >= '0' && name[i] <= '9'
	}
	if numeric {
		return "", false
	}
	if upper {
		name = strings.ToLower(name)
	}
	return name, true
}

// isAddressLiteral reports whether name is an IP address rather than a
// domain name: an address literal of RFC 5321 section 4.1.3 ("[192.0.2.1]",
// "[IPv6:2001:db8::1]"; an IPv6 address in brackets without the tag is
// accepted too) or a bare address ("192.0.2.1", "2001:db8::1"). Such a
// domain has no policy (RFC 8461 section 3.4).
func isAddressLiteral(name string) bool {
	if n := len(name); n >= 2 && name[0] == '[' && name[n-1] == ']' {
		in := name[1 : n-1]
		if len(in) > 5 && strings.EqualFold(in[:5], "IPv6:") {
			a, err := netip.ParseAddr(in[5:])
			return err == nil && a.Is6() && a.Zone() == ""
		}
		a, err := netip.ParseAddr(in)
		return err == nil && a.Zone() == ""
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(name, "."))
	return err == nil && a.Zone() == ""
}

package main

import (
	"fmt"
	"net/url"
	"strings"
)

// tlsrptVersion begins every TLS reporting record (RFC 8460 section 3).
const tlsrptVersion = "v=TLSRPTv1"

// isTLSRPT reports whether the TXT string s is a TLS reporting record: it
// begins with the version, followed by the end, white space or ";".
func isTLSRPT(s string) bool {
	rest, ok := strings.CutPrefix(s, tlsrptVersion)
	return ok && (rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t')
}

// note is a finding of the record lint, without its check and subject.
type note struct{ sev, msg string }

// lintTLSRPT checks the syntax of a TLS reporting record (RFC 8460 section
// 3): the version first, then ";"-separated fields, one or more rua= with
// comma-separated URIs of the schemes mailto: and https:, and extensions
// with well-formed names and values.
func lintTLSRPT(rec string) []note {
	var out []note
	errorf := func(format string, args ...any) { out = append(out, note{sevError, fmt.Sprintf(format, args...)}) }
	warnf := func(format string, args ...any) { out = append(out, note{sevWarning, fmt.Sprintf(format, args...)}) }

	fields := strings.Split(rec, ";")
	if strings.TrimRight(fields[0], " \t") != tlsrptVersion {
		errorf("%q: the record must begin with %s;", rec, tlsrptVersion)
		return out
	}
	var dest []string
	sawRUA := false
	for i, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			if i != len(fields)-2 { // only one trailing ";" is allowed
				errorf("empty field in %q", rec)
			}
			continue
		}
		key, value, ok := strings.Cut(f, "=")
		if !ok {
			errorf("field %q is not key=value", f)
			continue
		}
		if key != "rua" {
			if !validExtName(key) || !validExtValue(value) {
				errorf("malformed field %q", f)
			} else {
				warnf("field %q is not defined by RFC 8460; senders ignore it", key)
			}
			continue
		}
		sawRUA = true
		for _, u := range strings.Split(value, ",") {
			u = strings.Trim(u, " \t")
			d, sev, msg := checkRUA(u)
			switch sev {
			case sevError:
				errorf("rua %q: %s", u, msg)
			case sevWarning:
				warnf("rua %q: %s", u, msg)
			default:
				dest = append(dest, d)
			}
		}
	}
	switch {
	case !sawRUA:
		errorf("no rua= field: the record says nowhere to send reports")
	case len(dest) == 0:
		errorf("no usable rua URI: senders have nowhere to send reports")
	default:
		out = append(out, note{sevInfo, "reports go to " + join(dest)})
	}
	return out
}

// checkRUA checks one reporting URI and returns it as it will be used.
func checkRUA(s string) (dest, sev, msg string) {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return "", sevError, "empty URI"
	case err != nil:
		return "", sevError, err.Error()
	}
	switch strings.ToLower(u.Scheme) {
	case "mailto":
		addr := u.Opaque
		if local, domain, ok := strings.Cut(addr, "@"); !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
			return "", sevError, "a mailto: URI needs an address, mailto:local@domain"
		}
		return s, "", ""
	case "https":
		if u.Host == "" {
			return "", sevError, "an https: URI needs a host"
		}
		return s, "", ""
	case "":
		return "", sevError, "not a URI: it needs a scheme, mailto: or https:"
	}
	return "", sevWarning, "senders support only mailto: and https:, and ignore this URI"
}

// validExtName reports whether s is a tlsrpt-ext-name: a letter or digit,
// then up to 31 letters, digits, "_", "-" or ".".
func validExtName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

// validExtValue reports whether s is a tlsrpt-ext-value: visible ASCII
// other than ";" and "=".
func validExtValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ';' || c == '=' {
			return false
		}
	}
	return true
}

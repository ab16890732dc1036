package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mtasts-go/mtasts/tlsrpt"
)

// note is a finding of the record lint, without its check and subject.
type note struct{ sev, msg string }

// lintTLSRPT checks one TLS reporting record (RFC 8460 section 3) with the
// parser senders use, tlsrpt.ParseRecord.
func lintTLSRPT(rec string) []note {
	r, err := tlsrpt.ParseRecord(rec)
	return tlsrptNotes(rec, r, err)
}

// tlsrptNotes turns the outcome of parsing the record rec into findings: an
// error for a record senders reject, which then send no reports; warnings
// for what they ignore (URIs of other schemes, extensions); the
// destinations of the reports.
func tlsrptNotes(rec string, r tlsrpt.Record, err error) []note {
	var out []note
	errorf := func(format string, args ...any) { out = append(out, note{sevError, fmt.Sprintf(format, args...)}) }

	if err != nil {
		var se *tlsrpt.SyntaxError
		errors.As(err, &se)
		switch {
		case errors.Is(err, tlsrpt.ErrNoRecord):
			errorf("%q: the record must begin with %s;", rec, tlsrpt.Version)
		case errors.Is(err, tlsrpt.ErrMissingRUA), strings.TrimRight(rec, " \t;") == tlsrpt.Version:
			errorf("no rua= field: the record says nowhere to send reports")
		case errors.Is(err, tlsrpt.ErrNoUsableURI):
			// Well-formed, but every URI is of a scheme senders ignore;
			// the parser returns the record with the error, to name them.
			out = ignoredNotes(r)
			errorf("no usable rua URI: senders have nowhere to send reports")
		case errors.Is(err, tlsrpt.ErrBadURI) && se != nil:
			errorf("rua %q: %s: senders send no reports", se.Value, badURI(se.Value))
		case errors.Is(err, tlsrpt.ErrBadExtension) && se != nil:
			errorf("malformed field %q: senders send no reports", se.Field+"="+se.Value)
		case errors.Is(err, tlsrpt.ErrBadRecord) && se != nil && se.Field != "":
			errorf("field %q is not key=value: senders send no reports", se.Field)
		case errors.Is(err, tlsrpt.ErrBadRecord):
			errorf("%q: malformed: fields are key=value, separated by \";\", with at most one trailing \";\": senders send no reports", rec)
		default:
			errorf("%q: %s: senders send no reports", rec, strings.TrimPrefix(err.Error(), "tlsrpt: "))
		}
		return out
	}
	return append(ignoredNotes(r), note{sevInfo, "reports go to " + join(r.RUA)})
}

// ignoredNotes warns of what senders ignore in the record r: URIs of
// schemes other than mailto: and https:, and extensions.
func ignoredNotes(r tlsrpt.Record) []note {
	var out []note
	for _, u := range r.Ignored {
		out = append(out, note{sevWarning, fmt.Sprintf("rua %q: senders support only mailto: and https:, and ignore this URI", u)})
	}
	for _, e := range r.Extensions {
		out = append(out, note{sevWarning, fmt.Sprintf("field %q is not defined by RFC 8460; senders ignore it", e.Key)})
	}
	return out
}

// badURI says what is wrong with the rua URI u, which the parser rejected.
func badURI(u string) string {
	scheme, _, ok := strings.Cut(u, ":")
	switch {
	case u == "":
		return "empty URI"
	case !ok:
		return "not a URI, it needs a scheme (mailto: or https:)"
	case strings.EqualFold(scheme, "mailto"):
		return "a mailto: URI needs an address, mailto:local@domain, with \",\", \"!\" and \";\" percent-encoded"
	case strings.EqualFold(scheme, "https"):
		return "an https: URI needs a host, https://host/path, with \",\", \"!\" and \";\" percent-encoded"
	}
	return "malformed URI (RFC 3986, with \",\", \"!\" and \";\" percent-encoded)"
}

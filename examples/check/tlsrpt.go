package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mtasts-go/mtasts/tlsrpt"
)

// note is a finding of the record lint, without its check and subject.
type note struct{ code, sev, msg string }

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
	errorf := func(code, format string, args ...any) {
		out = append(out, note{code, sevError, fmt.Sprintf(format, args...)})
	}

	if err != nil {
		var se *tlsrpt.SyntaxError
		errors.As(err, &se)
		switch {
		case errors.Is(err, tlsrpt.ErrNoRecord):
			errorf("tlsrpt-invalid", "%q: the record must begin with %s;", rec, tlsrpt.Version)
		case errors.Is(err, tlsrpt.ErrMissingRUA), strings.TrimRight(rec, " \t;") == tlsrpt.Version:
			errorf("tlsrpt-no-rua", "no rua= field: the record says nowhere to send reports")
		case errors.Is(err, tlsrpt.ErrNoUsableURI):
			// Well-formed, but every URI is of a scheme senders ignore;
			// the parser returns the record with the error, to name them.
			out = ignoredNotes(r)
			errorf("tlsrpt-no-usable-uri", "no usable rua URI: senders have nowhere to send reports")
		case errors.Is(err, tlsrpt.ErrBadURI) && se != nil:
			errorf("tlsrpt-bad-uri", "rua %q: %s: senders send no reports", se.Value, badURI(se.Value))
		case errors.Is(err, tlsrpt.ErrBadExtension) && se != nil:
			errorf("tlsrpt-invalid", "malformed field %q: senders send no reports", se.Field+"="+se.Value)
		case errors.Is(err, tlsrpt.ErrBadRecord) && se != nil && se.Field != "":
			errorf("tlsrpt-invalid", "field %q is not key=value: senders send no reports", se.Field)
		case errors.Is(err, tlsrpt.ErrBadRecord):
			errorf("tlsrpt-invalid", "%q: malformed: fields are key=value, separated by \";\", with at most one trailing \";\": senders send no reports", rec)
		default:
			errorf("tlsrpt-invalid", "%q: %s: senders send no reports", rec, strings.TrimPrefix(err.Error(), "tlsrpt: "))
		}
		return out
	}
	return append(ignoredNotes(r), note{"tlsrpt-found", sevInfo, "reports go to " + join(r.RUA)})
}

// ignoredNotes warns of what senders ignore in the record r: URIs of
// schemes other than mailto: and https:, mailto: URIs that a sender may
// be unable to mail to, and extensions.
func ignoredNotes(r tlsrpt.Record) []note {
	var out []note
	for _, u := range r.Ignored {
		out = append(out, note{"tlsrpt-uri-ignored", sevWarning, fmt.Sprintf("rua %q: senders support only mailto: and https:, and ignore this URI", u)})
	}
	for _, u := range r.Unusable {
		out = append(out, note{"tlsrpt-uri-unusable", sevWarning, fmt.Sprintf("rua %q: valid, but not one plain local@domain address (an address literal, several addresses, a non-ASCII local part): some senders cannot mail reports there", u.URI)})
	}
	for _, e := range r.Extensions {
		out = append(out, note{"tlsrpt-unknown-field", sevWarning, fmt.Sprintf("field %q is not defined by RFC 8460; senders ignore it", e.Key)})
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

// checkTLSRPT looks at the TLS reporting record, _smtp._tls.<domain>.
func (c *checker) checkTLSRPT(ctx context.Context) {
	const check = "tlsrpt"
	name := "_smtp._tls." + c.domain
	txts, err := c.dns.TXT(ctx, name)
	if err != nil {
		c.add("tlsrpt-lookup-failed", check, sevError, name, err.Error(), "")
		return
	}
	var recs []string
	for _, t := range txts {
		switch {
		case tlsrpt.IsTLSRPT(t):
			recs = append(recs, t)
		case strings.HasPrefix(strings.ToLower(t), "v=tlsrpt"):
			c.add("tlsrpt-not-v1", check, sevWarning, name, fmt.Sprintf("%q is not a TLSRPTv1 record (it must begin with %s;); senders ignore it", t, tlsrpt.Version), "")
		}
	}
	rec, err := tlsrpt.ParseTXT(txts)
	switch {
	case len(recs) == 0:
		c.add("tlsrpt-missing", check, sevWarning, name, "no v=TLSRPTv1 record: senders cannot tell you when TLS to your MX hosts fails", "")
		return
	case errors.Is(err, tlsrpt.ErrMultipleRecords):
		c.add("tlsrpt-multiple", check, sevError, name, fmt.Sprintf("%d TLSRPTv1 records: senders ignore them all (RFC 8460 section 3)", len(recs)), "")
		return
	}
	for _, f := range tlsrptNotes(recs[0], rec, err) {
		c.add(f.code, check, f.sev, name, f.msg, "")
	}
}

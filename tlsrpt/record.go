package tlsrpt

import (
	"github.com/mtasts-go/mtasts/internal/txtrec"

	"context"
	"errors"
	"net"
	"slices"
	"strings"
)

// Version is the version tag that begins every TLS-RPT record.
const Version = "v=TLSRPTv1"

// Record is the "_smtp._tls" TXT record of a policy domain (RFC 8460
// section 3): where reports about that domain go.
type Record struct {
	// RUA are the report destinations with a supported scheme, "https:"
	// or "mailto:", as published (percent-encoding included), in order,
	// without duplicates. All rua fields of the record contribute: a
	// record with two rua fields has the union of their URIs. Never empty
	// in a record that ParseRecord returns.
	RUA []string
	// Ignored are the syntactically valid URIs of other schemes ("http:",
	// "ftp:"), which the RFC does not support and reports are not sent to.
	Ignored []string
	// Unusable are the syntactically valid mailto URIs whose address
	// this package cannot send to ("mailto:a@[192.0.2.1]", two addresses
	// in one), with the reason; reports go to the other URIs (RFC 8460
	// section 3 accepts any syntactically valid record).
	Unusable []UnusableURI
	// Extensions are the fields that RFC 8460 does not define, in order;
	// a repeated name is kept once, with its first value. "RUA=" is such a
	// field: the record's keys are case-sensitive.
	Extensions []Extension
}

// UnusableURI is a rua URI that is valid but cannot be used, and why.
type UnusableURI struct {
	URI string
	Err error // wraps ErrUnusableURI
}

// Extension is a key=value field of a record that RFC 8460 does not define.
type Extension struct {
	Key   string
	Value string
}

// IsTLSRPT reports whether the TXT string s announces itself as a TLS-RPT
// record: it begins with "v=TLSRPTv1" followed by optional white space and
// ";" (RFC 8460 section 3 discards records that do not begin with
// "v=TLSRPTv1;"; the white space is what the ABNF's field delimiter
// allows). Other TXT records at the name, "v=TLSRPTv10...", and text such as
// "v=TLSRPTv1 (old)" are discarded.
func IsTLSRPT(s string) bool {
	delimited, _ := txtrec.Begins(s, Version)
	return delimited
}

// TXTResolver looks up the TXT records at a name, each record's
// character-strings joined without spaces (RFC 8460 section 3). A name with
// no TXT record gives no strings and no error. The project's DNS client,
// and a thin wrapper around net.Resolver.LookupTXT, satisfy it.
type TXTResolver interface {
	// TXT returns the TXT records at name, each as its character-strings
	// joined, in the bytes as published.
	TXT(ctx context.Context, name string) ([]string, error)
}

// Lookup fetches and parses the TLS-RPT record of the policy domain
// domain (any case, U-labels or A-labels) at "_smtp._tls.<domain>". It
// returns ErrNoRecord when the domain has none; every error means that the
// domain is not to receive reports (RFC 8460 section 3), but a DNS error
// (returned as is) may be temporary.
func Lookup(ctx context.Context, r TXTResolver, domain string) (Record, error) {
	d, ok := canonDomain(domain)
	if !ok {
		return Record{}, &DomainError{Name: domain}
	}
	txts, err := r.TXT(ctx, "_smtp._tls."+d)
	if err != nil {
		return Record{}, err
	}
	return ParseTXT(txts)
}

// ParseTXT picks the TLS-RPT record out of all TXT strings found at
// "_smtp._tls.<domain>" (each record's character-strings already joined)
// and parses it. It returns ErrNoRecord when no string is a TLS-RPT record
// (see [IsTLSRPT]), ErrMultipleRecords when more than one is, and a
// [*SyntaxError] when the one record is malformed. In every error case the
// domain does not implement TLS-RPT (RFC 8460 section 3).
func ParseTXT(txts []string) (Record, error) {
	switch rec, n := txtrec.One(txts, IsTLSRPT); n {
	case 0:
		return Record{}, ErrNoRecord
	case 1:
		return ParseRecord(rec)
	}
	return Record{}, ErrMultipleRecords
}

// ParseRecord parses one TLS-RPT record strictly per the ABNF of RFC 8460
// section 3: "v=TLSRPTv1", then one or more ";"-separated fields, an
// optional trailing ";". At least one rua field is required; each holds one
// or more URIs separated by "," and optional white space, in which ",",
// "!" and ";" must be percent-encoded. URIs of schemes other than https and
// mailto are kept in Record.Ignored, mailto URIs whose address cannot be
// used in Record.Unusable; a record left with no usable URI is an error
// (ErrNoUsableURI), returned with the Record parsed, whose Ignored,
// Unusable and Extensions say what it holds. Other fields are extensions.
//
// Errors are [*SyntaxError] values wrapping ErrNoRecord, ErrNotASCII,
// ErrBadRecord, ErrMissingRUA, ErrBadURI, ErrNoUsableURI or
// ErrBadExtension. The returned strings share memory with s.
func ParseRecord(s string) (Record, error) {
	var r Record
	if !strings.HasPrefix(s, Version) || len(s) > len(Version) && s[len(Version)] != ';' && !txtrec.IsWSP(s[len(Version)]) {
		return r, syntaxError("", "", ErrNoRecord)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return r, syntaxError("", "", ErrNotASCII)
		}
	}
	haveRUA := false
	fields := 0
	rest := s[len(Version):]
	for len(rest) > 0 {
		// field-delim = *WSP ";" *WSP
		rest = txtrec.TrimWSP(rest)
		if len(rest) == 0 || rest[0] != ';' {
			return Record{}, syntaxError("", "", ErrBadRecord)
		}
		rest = txtrec.TrimWSP(rest[1:])
		if len(rest) == 0 {
			break // the optional trailing delimiter
		}
		fields++
		if strings.HasPrefix(rest, "rua=") {
			var err error
			if rest, err = r.parseRUA(rest[len("rua="):]); err != nil {
				return Record{}, err
			}
			haveRUA = true
			continue
		}
		end := 0
		for end < len(rest) && rest[end] != ';' && !txtrec.IsWSP(rest[end]) {
			end++
		}
		field := rest[:end]
		rest = rest[end:]
		eq := strings.IndexByte(field, '=')
		if eq < 0 {
			return Record{}, syntaxError(field, "", ErrBadRecord)
		}
		key, value := field[:eq], field[eq+1:]
		if !txtrec.IsExtName(key) || !txtrec.IsExtValue(value) {
			return Record{}, syntaxError(key, value, ErrBadExtension)
		}
		if !hasExtension(r.Extensions, key) {
			r.Extensions = append(r.Extensions, Extension{Key: key, Value: value})
		}
	}
	switch {
	case fields == 0:
		return Record{}, syntaxError("", "", ErrBadRecord)
	case !haveRUA:
		return Record{}, syntaxError("rua", "", ErrMissingRUA)
	case len(r.RUA) == 0:
		// Well-formed, but no destination: the record is returned with
		// the error, so that a checker can name what was ignored.
		return r, syntaxError("rua", "", ErrNoUsableURI)
	}
	return r, nil
}

// parseRUA parses the URIs of one rua field, s being what follows "rua=",
// and returns the rest of the record after the last URI.
func (r *Record) parseRUA(s string) (string, error) {
	for {
		end := 0
		for end < len(s) && s[end] != ',' && s[end] != ';' && !txtrec.IsWSP(s[end]) {
			end++
		}
		uri := s[:end]
		supported, err := checkURI(uri)
		switch {
		case errors.Is(err, ErrUnusableURI):
			if !slices.ContainsFunc(r.Unusable, func(u UnusableURI) bool { return u.URI == uri }) {
				r.Unusable = append(r.Unusable, UnusableURI{URI: uri, Err: err})
			}
		case err != nil:
			return "", syntaxError("rua", uri, err)
		case !supported:
			r.Ignored = appendNew(r.Ignored, uri)
		default:
			r.RUA = appendNew(r.RUA, uri)
		}
		// *WSP "," *WSP before the next URI; anything else ends the field.
		rest := txtrec.TrimWSP(s[end:])
		if len(rest) == 0 || rest[0] != ',' {
			return s[end:], nil
		}
		s = txtrec.TrimWSP(rest[1:])
	}
}

func appendNew(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

func hasExtension(exts []Extension, key string) bool {
	for i := range exts {
		if exts[i].Key == key {
			return true
		}
	}
	return false
}

// String renders the record in canonical form: "v=TLSRPTv1; rua=" and the
// URIs of RUA, Unusable and Ignored separated by ",", then the extensions as
// "; key=value". For a record that ParseRecord returned, ParseRecord of the
// result gives an equal Record.
func (r Record) String() string {
	var b strings.Builder
	b.WriteString(Version)
	b.WriteString("; rua=")
	for i, u := range r.RUA {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(u)
	}
	n := len(r.RUA)
	for _, u := range r.Unusable {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(u.URI)
	}
	for _, u := range r.Ignored {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(u)
	}
	for _, e := range r.Extensions {
		b.WriteString("; ")
		b.WriteString(e.Key)
		b.WriteByte('=')
		b.WriteString(e.Value)
	}
	return b.String()
}

// Equal reports whether r and o have the same URIs and extensions, in the
// same order (the reasons of Unusable are not compared).
func (r Record) Equal(o Record) bool {
	return equalStrings(r.RUA, o.RUA) && equalStrings(r.Ignored, o.Ignored) &&
		slices.EqualFunc(r.Unusable, o.Unusable, func(a, b UnusableURI) bool { return a.URI == b.URI }) &&
		len(r.Extensions) == len(o.Extensions) && func() bool {
		for i := range r.Extensions {
			if r.Extensions[i] != o.Extensions[i] {
				return false
			}
		}
		return true
	}()
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// NetResolver is a [TXTResolver] over a net.Resolver (nil: the system's):
// a name that does not exist, or has no TXT record, gives no strings and
// no error.
type NetResolver struct {
	Resolver *net.Resolver
}

// TXT looks up the TXT records at name.
func (n NetResolver) TXT(ctx context.Context, name string) ([]string, error) {
	r := n.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	txts, err := r.LookupTXT(ctx, name)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return nil, nil
	}
	return txts, err
}

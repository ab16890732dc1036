package tlsrpt

import (
	"errors"
	"strconv"
)

// Sentinel errors of the record parser. [ParseRecord] and [ParseTXT] wrap
// them in a [*SyntaxError] (except ErrMultipleRecords and a bare
// ErrNoRecord from ParseTXT); test with [errors.Is].
var (
	ErrNoRecord        = errors.New("no TLSRPTv1 record")
	ErrMultipleRecords = errors.New("more than one TLSRPTv1 record")
	ErrBadRecord       = errors.New("malformed TLSRPTv1 record")
	ErrNotASCII        = errors.New("record is not US-ASCII")
	ErrMissingRUA      = errors.New("missing rua")
	ErrBadURI          = errors.New("malformed rua URI")
	ErrNoUsableURI     = errors.New("no https or mailto URI in rua")
	ErrBadExtension    = errors.New("malformed extension")
)

// SyntaxError reports why a "_smtp._tls" TXT record is invalid. Err is one
// of the sentinel errors of this package.
type SyntaxError struct {
	Field string // the field concerned ("rua", an extension name), if known
	Value string // the offending value (a URI), if any
	Err   error
}

// Error renders the error as `tlsrpt: "rua": "value": reason`.
func (e *SyntaxError) Error() string {
	b := make([]byte, 0, 64)
	b = append(b, "tlsrpt: "...)
	if e.Field != "" {
		b = strconv.AppendQuote(b, e.Field)
		b = append(b, ": "...)
	}
	if e.Value != "" {
		b = strconv.AppendQuote(b, e.Value)
		b = append(b, ": "...)
	}
	b = append(b, e.Err.Error()...)
	return string(b)
}

// Unwrap returns the sentinel error, for errors.Is.
func (e *SyntaxError) Unwrap() error { return e.Err }

func syntaxError(field, value string, err error) error {
	return &SyntaxError{Field: field, Value: value, Err: err}
}

// DomainError reports a domain or host name that is not a valid DNS name,
// even after U-labels are converted to A-labels.
type DomainError struct {
	Name string
}

// Error names the invalid input.
func (e *DomainError) Error() string {
	return "tlsrpt: invalid domain name " + strconv.Quote(e.Name)
}

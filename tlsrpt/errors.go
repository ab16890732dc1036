package tlsrpt

import (
	"errors"
	"strconv"

	"github.com/emersion/go-smtp"
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

// Errors of [Recorder.Record], wrapped in a [*ResultError]: test with
// [errors.Is].
var (
	// ErrBadResult: an invalid domain, policy type or result type.
	ErrBadResult = errors.New("invalid result")
	// ErrNoPolicy: a result of type sts or tlsa that carries no policy
	// (an sts policy fetch failure needs none, nor does a tlsa result of
	// dnssec-invalid: no valid records were returned).
	ErrNoPolicy = errors.New("no policy for policy type")
	// ErrBadTLSA: a TLSA record that is not in presentation form
	// ("3 1 1 0123ABCD...").
	ErrBadTLSA = errors.New("TLSA record not in presentation form")
)

// ResultError reports a result that [Recorder.Record] refused: nothing of
// it was counted.
type ResultError struct {
	Field string // "domain", "type", "result-type", "policy-string"
	Value string
	Err   error // ErrBadResult, ErrNoPolicy or ErrBadTLSA
}

// Error renders the error as `tlsrpt: result "field" "value": reason`.
func (e *ResultError) Error() string {
	return "tlsrpt: result " + strconv.Quote(e.Field) + " " + strconv.Quote(e.Value) + ": " + e.Err.Error()
}

// Unwrap returns the sentinel error, for errors.Is.
func (e *ResultError) Unwrap() error { return e.Err }

// ErrUnusableURI is wrapped by the errors of [Record].Unusable and of a
// delivery to such a URI: a syntactically valid mailto URI whose address
// this package cannot send to (a domain literal, two addresses, a
// non-ASCII domain).
var ErrUnusableURI = errors.New("unusable rua URI")

// ErrPermanent marks a delivery failure that no retry can cure: a 5xx
// SMTP reply, an unusable mailto address, an HTTPS answer of 4xx other
// than 408 and 429. A Mail function marks its own with [Permanent].
var ErrPermanent = errors.New("permanent failure")

// Permanent returns err marked as permanent: errors.Is(result,
// ErrPermanent) is true, and errors.Is/As still find err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{ErrPermanent, e.err} }

// isPermanent reports whether a delivery error is one no retry can cure.
func isPermanent(err error) bool {
	if errors.Is(err, ErrPermanent) || errors.Is(err, ErrUnusableURI) || errors.Is(err, ErrBadURI) || errors.Is(err, errNoMail) {
		return true
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code >= 500 && se.Code <= 599
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 400 && he.StatusCode <= 499 && he.StatusCode != 408 && he.StatusCode != 429
	}
	return false
}

// HTTPError is the answer of an https destination that did not accept a
// report: any status but 2xx.
type HTTPError struct {
	URI        string // the rua URI posted to
	StatusCode int    // the HTTP status code
	Status     string // the status line's text, as net/http gives it
}

// Error names the destination and the status.
func (e *HTTPError) Error() string { return "tlsrpt: POST " + e.URI + ": " + e.Status }

var errNoMail = errors.New("no Mail function for mailto destinations")

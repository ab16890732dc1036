package policy

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Parsers wrap them in a [*SyntaxError]; test with
// [errors.Is].
var (
	// Record errors (the _mta-sts TXT record).
	ErrNoRecord        = errors.New("no STSv1 record")
	ErrMultipleRecords = errors.New("more than one STSv1 record")
	ErrBadRecord       = errors.New("malformed STSv1 record")
	ErrMissingID       = errors.New("missing id")
	ErrBadID           = errors.New("id must be 1 to 32 letters or digits")
	ErrNotASCII        = errors.New("record is not US-ASCII")

	// Policy file errors.
	ErrEmpty          = errors.New("empty policy")
	ErrBadLine        = errors.New("malformed line")
	ErrMissingVersion = errors.New("missing version")
	ErrBadVersion     = errors.New("version must be STSv1")
	ErrMissingMode    = errors.New("missing mode")
	ErrBadMode        = errors.New("mode must be enforce, testing or none")
	ErrMissingMaxAge  = errors.New("missing max_age")
	ErrBadMaxAge      = errors.New("max_age must be 1 to 10 decimal digits")
	ErrMissingMX      = errors.New("missing mx (required unless mode is none)")
	ErrBadMX          = errors.New("mx must be a domain name or *. and a domain name, in A-label form")

	// Errors shared by both.
	ErrBadExtension = errors.New("malformed extension")

	// Malformed lines of a policy file that are common enough to be named;
	// both wrap ErrBadLine.
	ErrEmptyLine error = &lineError{"empty line: a policy file has none, not even at its end"}
	ErrStrayCR   error = &lineError{"carriage return without a line feed"}
)

// lineError is a malformed line of a named kind.
type lineError struct{ text string }

func (e *lineError) Error() string { return e.text }

// Unwrap returns ErrBadLine.
func (e *lineError) Unwrap() error { return ErrBadLine }

// SyntaxError reports where a record or policy file is invalid. Err is one of
// the sentinel errors of this package.
type SyntaxError struct {
	Line int    // 1-based line of the policy file; 0 for a TXT record or the whole file
	Key  string // the field concerned ("mode", "mx", an extension name), if known
	// Value is the offending value (or line), if there is one, cut after
	// 64 bytes (then ending in "...").
	Value string
	// Record is true for an error in the _mta-sts TXT record, false for
	// one in the policy file.
	Record bool
	Err    error

	hasValue bool // Value is shown, even empty
}

// maxValue bounds SyntaxError.Value.
const maxValue = 64

// valueError returns a *SyntaxError that quotes the bad value v.
func valueError[T string | []byte](line int, key string, v T, err error) *SyntaxError {
	s := string(v[:min(len(v), maxValue+utf8.UTFMax)])
	if len(v) > maxValue {
		n := maxValue
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "..."
	}
	return &SyntaxError{Line: line, Key: key, Value: s, Err: err, hasValue: true}
}

// Error renders the error as "policy: line N: \"key\": \"value\": reason",
// each part when known; an error in the TXT record begins "_mta-sts
// record: " instead.
func (e *SyntaxError) Error() string {
	prefix := "policy: "
	if e.Record {
		prefix = "_mta-sts record: "
	}
	b := appendWhere(make([]byte, 0, 96), prefix, e.Line, e.Key)
	if e.hasValue || e.Value != "" {
		b = strconv.AppendQuote(b, e.Value)
		b = append(b, ": "...)
	}
	return string(append(b, e.Err.Error()...))
}

// describe renders prefix, then "line N: " and "\"key\": " when known, then
// text.
func describe(prefix string, line int, key, text string) string {
	return string(append(appendWhere(make([]byte, 0, 64), prefix, line, key), text...))
}

func appendWhere(b []byte, prefix string, line int, key string) []byte {
	b = append(b, prefix...)
	if line > 0 {
		b = append(b, "line "...)
		b = strconv.AppendInt(b, int64(line), 10)
		b = append(b, ": "...)
	}
	if key != "" {
		b = strconv.AppendQuote(b, key)
		b = append(b, ": "...)
	}
	return b
}

// Unwrap returns the sentinel error, for errors.Is.
func (e *SyntaxError) Unwrap() error { return e.Err }

// WarningCode says what kind of non-fatal oddity a [Warning] reports.
type WarningCode uint8

// The warning codes.
const (
	// WarnUnknownKey: a key the parser does not know, kept as an extension.
	WarnUnknownKey WarningCode = iota + 1
	// WarnDuplicateKey: a repeated non-mx key; the first occurrence wins.
	WarnDuplicateKey
	// WarnMaxAgeCapped: max_age above 31557600 seconds, capped to it.
	WarnMaxAgeCapped
	// WarnIPLiteral: an mx value that is an IPv4 address, skipped: MTA-STS
	// matches host names only.
	WarnIPLiteral
	// WarnDuplicateMX: an mx pattern repeated; the copy is dropped.
	WarnDuplicateMX
	// WarnMXIgnored: mx lines in a policy whose mode is none, which has no
	// use for them.
	WarnMXIgnored
)

var warningText = [...]string{
	WarnUnknownKey:   "unknown key kept as an extension",
	WarnDuplicateKey: "duplicate key ignored, the first occurrence wins",
	WarnMaxAgeCapped: "max_age above 31557600 capped to 31557600",
	WarnIPLiteral:    "IP address literal in mx skipped",
	WarnDuplicateMX:  "duplicate mx pattern ignored",
	WarnMXIgnored:    "mx has no effect when mode is none",
}

// String describes the code in words.
func (c WarningCode) String() string {
	if int(c) < len(warningText) && warningText[c] != "" {
		return warningText[c]
	}
	return "warning " + strconv.Itoa(int(c))
}

// Warning is a non-fatal oddity found while parsing: the input is valid but
// something in it deserves the attention of whoever publishes it.
type Warning struct {
	Line int    // 1-based line of the policy file; 0 for a TXT record
	Key  string // the key concerned
	Code WarningCode
}

// String renders the warning as "line 3: "foo": unknown key kept as an
// extension".
func (w Warning) String() string {
	return describe("", w.Line, w.Key, w.Code.String())
}

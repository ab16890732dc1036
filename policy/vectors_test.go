package policy

import (
	"encoding/json"
	"os"
	"testing"
)

// The test vectors live in testdata as JSON so that the table tests and the
// fuzzers' seed corpora share them. Names start with a short id of the rule
// they cover (T<section>.<n>), which keeps them unique.

type recordVector struct {
	Name       string   `json:"name"`
	TXT        []string `json:"txt"`
	ID         string   `json:"id"`
	Extensions []string `json:"extensions"` // "key=value"
	Err        string   `json:"err"`
}

type policyVector struct {
	Name       string   `json:"name"`
	Body       string   `json:"body"`
	Mode       string   `json:"mode"`
	MaxAge     uint32   `json:"max_age"`
	MX         []string `json:"mx"`
	Extensions []string `json:"extensions"` // "key: value"
	Warnings   []string `json:"warnings"`   // "Code@line"
	Err        string   `json:"err"`
	Line       int      `json:"line"`
}

func loadVectors[T any](tb testing.TB, file string) []T {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		tb.Fatal(err)
	}
	var v []T
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	return v
}

var sentinels = map[string]error{
	"ErrNoRecord":        ErrNoRecord,
	"ErrMultipleRecords": ErrMultipleRecords,
	"ErrBadRecord":       ErrBadRecord,
	"ErrMissingID":       ErrMissingID,
	"ErrBadID":           ErrBadID,
	"ErrNotASCII":        ErrNotASCII,
	"ErrEmpty":           ErrEmpty,
	"ErrBadLine":         ErrBadLine,
	"ErrEmptyLine":       ErrEmptyLine,
	"ErrStrayCR":         ErrStrayCR,
	"ErrMissingVersion":  ErrMissingVersion,
	"ErrBadVersion":      ErrBadVersion,
	"ErrMissingMode":     ErrMissingMode,
	"ErrBadMode":         ErrBadMode,
	"ErrMissingMaxAge":   ErrMissingMaxAge,
	"ErrBadMaxAge":       ErrBadMaxAge,
	"ErrMissingMX":       ErrMissingMX,
	"ErrBadMX":           ErrBadMX,
	"ErrBadExtension":    ErrBadExtension,
}

var warningCodes = map[string]WarningCode{
	"WarnUnknownKey":   WarnUnknownKey,
	"WarnDuplicateKey": WarnDuplicateKey,
	"WarnMaxAgeCapped": WarnMaxAgeCapped,
	"WarnIPLiteral":    WarnIPLiteral,
	"WarnMXIgnored":    WarnMXIgnored,
	"WarnDuplicateMX":  WarnDuplicateMX,
}

package policy

import "github.com/mtasts-go/mtasts/internal/txtrec"

import "strings"

// RecordVersion is the version tag that begins every MTA-STS TXT record.
const RecordVersion = "v=STSv1"

// Record is the "_mta-sts" TXT record of a policy domain (RFC 8461
// section 3.1). Its ID changes whenever the domain publishes a new policy.
type Record struct {
	// ID identifies the current policy: 1 to 32 letters and digits, opaque
	// and compared byte for byte.
	ID string
	// Extensions are the other fields of the record, in order, without
	// duplicates. MTA-STS defines none; they are kept for inspection.
	Extensions []Extension
}

// Extension is a key/value field that the RFC does not define, found in a
// record or a policy file.
type Extension struct {
	Key   string
	Value string
}

// IsSTS reports whether the TXT string s is an STSv1 record: it begins with
// "v=STSv1", optional white space and ";" (RFC 8461 section 3.1; the white
// space follows erratum 6285). Every other TXT string at the name is
// discarded, among them a bare "v=STSv1" with no ";" and records of later
// versions such as "v=STSv10;".
func IsSTS(s string) bool {
	delimited, _ := txtrec.Begins(s, RecordVersion)
	return delimited
}

// ParseTXT picks the policy record out of all TXT strings found at
// "_mta-sts.<domain>" (each record's character-strings already joined
// without spaces) and parses it. It returns ErrNoRecord when no string is an
// STSv1 record (see [IsSTS]), ErrMultipleRecords when more than one is, and a
// [*SyntaxError] when the one record is malformed. In every error case the
// domain has no available policy (RFC 8461 section 3.1).
func ParseTXT(txts []string) (Record, error) {
	switch rec, n := txtrec.One(txts, IsSTS); n {
	case 0:
		return Record{}, ErrNoRecord
	case 1:
		return ParseRecord(rec)
	}
	return Record{}, ErrMultipleRecords
}

// ParseRecord parses one STSv1 TXT record, strictly per the ABNF of RFC 8461
// section 3.1: the version first, then ";"-separated fields, an optional
// trailing ";". The id is required. A repeated field is ignored after its
// first occurrence, but must still be well-formed. Errors are
// [*SyntaxError] values wrapping ErrNoRecord, ErrNotASCII, ErrBadRecord,
// ErrMissingID, ErrBadID or ErrBadExtension.
//
// The returned ID and extension strings share memory with s.
func ParseRecord(s string) (Record, error) {
	var r Record
	if !IsSTS(s) {
		return r, recordError("", ErrNoRecord)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return r, recordError("", ErrNotASCII)
		}
	}
	haveID := false
	fields := 0
	rest := s[len(RecordVersion):]
	for len(rest) > 0 {
		// sts-field-delim = *WSP ";" *WSP
		rest = txtrec.TrimWSP(rest)
		if len(rest) == 0 {
			return r, recordError("", ErrBadRecord) // white space at the end
		}
		if rest[0] != ';' {
			return r, recordValueError("", rest, ErrBadRecord)
		}
		rest = txtrec.TrimWSP(rest[1:])
		if len(rest) == 0 {
			break // the optional trailing delimiter
		}
		end := 0
		for end < len(rest) && rest[end] != ';' && !txtrec.IsWSP(rest[end]) {
			end++
		}
		field := rest[:end]
		rest = rest[end:]
		eq := strings.IndexByte(field, '=')
		if eq < 0 {
			return r, recordValueError("", field, ErrBadRecord)
		}
		key, value := field[:eq], field[eq+1:]
		fields++
		switch {
		case key == "id" && !haveID:
			if !isID(value) {
				return r, recordValueError(key, value, ErrBadID)
			}
			r.ID, haveID = value, true
		case !txtrec.IsExtName(key) || !txtrec.IsExtValue(value):
			return r, recordValueError(key, value, ErrBadExtension)
		case key == "id" || key == "v" || hasExtension(r.Extensions, key):
			// A repeated field: the first occurrence wins (RFC 8461 §3.2).
		default:
			r.Extensions = append(r.Extensions, Extension{Key: key, Value: value})
		}
	}
	if fields == 0 {
		return r, recordError("", ErrBadRecord)
	}
	if !haveID {
		return Record{}, recordError("id", ErrMissingID)
	}
	return r, nil
}

func recordError(key string, err error) error {
	return &SyntaxError{Key: key, Err: err, Record: true}
}

// recordValueError is recordError quoting the bad value.
func recordValueError(key, value string, err error) error {
	e := valueError(0, key, value, err)
	e.Record = true
	return e
}

func hasExtension(exts []Extension, key string) bool {
	for i := range exts {
		if exts[i].Key == key {
			return true
		}
	}
	return false
}

// Validate reports whether r can be rendered as a valid record: a
// well-formed id and well-formed, unique extensions that do not reuse the
// names "v" and "id".
func (r Record) Validate() error {
	if !isID(r.ID) {
		return recordError("id", ErrBadID)
	}
	for i, e := range r.Extensions {
		if !txtrec.IsExtName(e.Key) || !txtrec.IsExtValue(e.Value) || e.Key == "v" || e.Key == "id" ||
			hasExtension(r.Extensions[:i], e.Key) {
			return recordError(e.Key, ErrBadExtension)
		}
	}
	return nil
}

// String renders the record in canonical form, "v=STSv1; id=<id>" followed
// by any extensions as "; key=value". For a valid record, ParseRecord of the
// result gives an equal Record.
func (r Record) String() string {
	n := len(RecordVersion) + 5 + len(r.ID)
	for _, e := range r.Extensions {
		n += 3 + len(e.Key) + len(e.Value)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(RecordVersion)
	b.WriteString("; id=")
	b.WriteString(r.ID)
	for _, e := range r.Extensions {
		b.WriteString("; ")
		b.WriteString(e.Key)
		b.WriteByte('=')
		b.WriteString(e.Value)
	}
	return b.String()
}

// MarshalText implements [encoding.TextMarshaler]; it fails for a record
// that [Record.Validate] rejects.
func (r Record) MarshalText() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseRecord].
// The record keeps no reference to b.
func (r *Record) UnmarshalText(b []byte) error {
	v, err := ParseRecord(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Equal reports whether r and o have the same id and extensions.
func (r Record) Equal(o Record) bool {
	return r.ID == o.ID && equalExtensions(r.Extensions, o.Extensions)
}

func equalExtensions(a, b []Extension) bool {
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

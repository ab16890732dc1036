package cache

import (
	"bytes"
	"time"
)

// The quick decoders read what MarshalBinary writes, without reflection,
// because a store reads every entry at start: a million of them take
// seconds of CPU through encoding/json. They accept only the exact shape
// MarshalBinary gives an ordinary entry (ASCII strings whose only escapes
// are \n, \r, \t, \" and \\, no failure record) and say no to anything
// else, which then goes through encoding/json: they never decide that
// data is corrupt, and what they accept, encoding/json decodes the same
// (TestQuickDecodersAgree, FuzzParseEntry).

// quickEntry decodes the entry object as MarshalBinary writes it.
func quickEntry(b []byte) (encodedEntry, bool) {
	var x encodedEntry
	var ok bool
	if b, ok = bytes.CutPrefix(b, []byte(`{"domain":`)); !ok {
		return x, false
	}
	if x.Domain, b, ok = quickString(b); !ok {
		return x, false
	}
	if rest, found := bytes.CutPrefix(b, []byte(`,"id":`)); found {
		if x.ID, b, ok = quickString(rest); !ok {
			return x, false
		}
	}
	if rest, found := bytes.CutPrefix(b, []byte(`,"policy":`)); found {
		if x.Policy, b, ok = quickString(rest); !ok {
			return x, false
		}
	}
	if x.Expires, b, ok = quickTime(b, `,"expires":`); !ok {
		return x, false
	}
	if x.Checked, b, ok = quickTime(b, `,"checked":`); !ok {
		return x, false
	}
	return x, string(b) == "}"
}

// quickTime decodes the time after key, in RFC 3339 as time.Time's
// MarshalJSON writes it.
func quickTime(b []byte, key string) (time.Time, []byte, bool) {
	b, ok := bytes.CutPrefix(b, []byte(key))
	if !ok {
		return time.Time{}, nil, false
	}
	s, rest, ok := quickString(b)
	if !ok {
		return time.Time{}, nil, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, nil, false
	}
	return t, rest, true
}

// quickString decodes the JSON string at the start of b and returns the
// rest.
func quickString(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	b = b[1:]
	var out []byte // only when there are escapes
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			if out == nil {
				return string(b[:i]), b[i+1:], true
			}
			return string(out), b[i+1:], true
		case c < 0x20 || c >= 0x80:
			return "", nil, false // encoding/json's rules for these
		case c == '\\':
			if i+1 == len(b) {
				return "", nil, false
			}
			if out == nil {
				out = append(make([]byte, 0, len(b)), b[:i]...)
			}
			i++
			switch b[i] {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case '"', '\\':
				out = append(out, b[i])
			default:
				return "", nil, false
			}
		default:
			if out != nil {
				out = append(out, c)
			}
		}
	}
	return "", nil, false
}

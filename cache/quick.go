package cache

import (
	"bytes"
	"strings"
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
// MarshalJSON writes it: for a whole second in UTC, which is what
// MarshalBinary writes, without allocating.
func quickTime(b []byte, key string) (time.Time, []byte, bool) {
	b, ok := bytes.CutPrefix(b, []byte(key))
	if !ok {
		return time.Time{}, nil, false
	}
	// "2006-01-02T15:04:05Z"
	if len(b) >= 22 && b[0] == '"' && b[21] == '"' && b[5] == '-' && b[8] == '-' && b[11] == 'T' &&
		b[14] == ':' && b[17] == ':' && b[20] == 'Z' {
		year, ok1 := digits(b[1:5])
		month, ok2 := digits(b[6:8])
		day, ok3 := digits(b[9:11])
		hour, ok4 := digits(b[12:14])
		minute, ok5 := digits(b[15:17])
		sec, ok6 := digits(b[18:20])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && 1 <= month && month <= 12 && 1 <= day &&
			day <= daysIn(month, year) && hour < 24 && minute < 60 && sec < 60 {
			return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), b[22:], true
		}
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

// digits decodes a run of ASCII digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days of month in year.
func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// quickString decodes the JSON string at the start of b and returns the
// rest.
func quickString(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	b = b[1:]
	// Find the end and check every byte first, so that a string with
	// escapes is built in one allocation of its exact size.
	end, escapes := -1, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			end = i
			break
		}
		if c < 0x20 || c >= 0x80 {
			return "", nil, false // encoding/json's rules for these
		}
		if c == '\\' {
			if i+1 == len(b) {
				return "", nil, false
			}
			switch b[i+1] {
			case 'n', 'r', 't', '"', '\\':
			default:
				return "", nil, false
			}
			escapes++
			i++
		}
	}
	if end < 0 {
		return "", nil, false
	}
	if escapes == 0 {
		return string(b[:end]), b[end+1:], true
	}
	var sb strings.Builder
	sb.Grow(end - escapes)
	start := 0
	for i := 0; i < end; i++ {
		if b[i] != '\\' {
			continue
		}
		sb.Write(b[start:i])
		switch b[i+1] {
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		default:
			sb.WriteByte(b[i+1])
		}
		i++
		start = i + 1
	}
	sb.Write(b[start:end])
	return sb.String(), b[end+1:], true
}

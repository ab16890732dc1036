package dane

import "strconv"

// maxData is the most association data a TLSA record can hold: the RDATA
// length is 16 bits, and three octets go to the parameters.
const maxData = 65535 - 3

// SyntaxError reports text that is not a TLSA record in presentation form.
type SyntaxError struct {
	Text   string // the input, cut to 64 bytes
	Reason string
}

// Error returns "dane: invalid tlsa record "<text>": <reason>".
func (e *SyntaxError) Error() string {
	return "dane: invalid tlsa record " + strconv.Quote(e.Text) + ": " + e.Reason
}

func syntaxError(text, reason string) *SyntaxError {
	if len(text) > 64 {
		text = text[:64]
	}
	return &SyntaxError{Text: text, Reason: reason}
}

// Parse parses the RDATA of a TLSA record in presentation form (RFC 6698
// section 2.2): the certificate usage, the selector and the matching type
// as decimal numbers from 0 to 255, then the certificate association data
// in hexadecimal, in either case, which may contain white space (spaces,
// tabs, line ends):
//
//	3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6
//
// Leading and trailing white space is ignored. The data must not be empty,
// and may hold at most 65532 bytes. Numbers the RFCs do not define parse;
// [Record.Check] tells whether the record is usable. Parse does not accept
// the zone-file extras (an owner name, a class, parentheses, comments):
// dns.NewRR and [FromRR] read those. Every failure is a [*SyntaxError].
func Parse(s string) (Record, error) {
	var r Record
	i := skipSpace(s, 0)
	var fields [3]uint8
	for f := range fields {
		start := i
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			if n = n*10 + int(s[i]-'0'); n > 255 || i-start >= 3 {
				return Record{}, syntaxError(s, "field "+strconv.Itoa(f+1)+" not a number from 0 to 255")
			}
			i++
		}
		if i == start {
			return Record{}, syntaxError(s, "field "+strconv.Itoa(f+1)+" not a number from 0 to 255")
		}
		if i < len(s) && !isSpace(s[i]) {
			return Record{}, syntaxError(s, "field "+strconv.Itoa(f+1)+" not a number from 0 to 255")
		}
		fields[f] = uint8(n)
		i = skipSpace(s, i)
	}
	r.Usage, r.Selector, r.MatchingType = Usage(fields[0]), Selector(fields[1]), MatchingType(fields[2])
	// The data: hexadecimal digits, white space anywhere among them.
	digits := 0
	for j := i; j < len(s); j++ {
		if isSpace(s[j]) {
			continue
		}
		if unhex(s[j]) < 0 {
			return Record{}, syntaxError(s, "association data not hexadecimal")
		}
		digits++
	}
	switch {
	case digits == 0:
		return Record{}, syntaxError(s, "no association data")
	case digits%2 != 0:
		return Record{}, syntaxError(s, "association data of odd length")
	case digits/2 > maxData:
		return Record{}, syntaxError(s, "association data longer than 65532 bytes")
	}
	r.Data = make([]byte, 0, digits/2)
	var hi int
	half := false
	for ; i < len(s); i++ {
		if isSpace(s[i]) {
			continue
		}
		v := unhex(s[i])
		if half {
			r.Data = append(r.Data, byte(hi<<4|v))
		} else {
			hi = v
		}
		half = !half
	}
	return r, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

package policy

import (
	"github.com/mtasts-go/mtasts/internal/txtrec"

	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the only policy version that RFC 8461 defines.
const Version = "STSv1"

// MaxMaxAge is the largest max_age RFC 8461 allows, in seconds (about one
// year). Larger values are capped to it.
const MaxMaxAge = 31557600

// Policy is an MTA-STS policy (RFC 8461 section 3.2). The version is always
// [Version].
type Policy struct {
	// Mode says what a sender does when an MX host fails validation.
	Mode Mode
	// MaxAge is how long, in seconds from the fetch, the policy may be
	// cached: 0 to MaxMaxAge. 0 means "use for this delivery, do not store".
	MaxAge uint32
	// MX are the patterns of acceptable MX hosts, lower-case A-labels: a
	// domain name ("mail.example.com") or "*." and a domain name
	// ("*.example.com", which matches exactly one more label). Required,
	// unless Mode is ModeNone.
	MX []string
	// Extensions are the fields that RFC 8461 does not define, in order,
	// without duplicates. They have no effect on delivery.
	Extensions []Extension
}

// The keys of the policy file.
const (
	keyVersion = "version"
	keyMode    = "mode"
	keyMaxAge  = "max_age"
	keyMX      = "mx"
)

// MaxAgeDuration returns MaxAge as a duration.
func (p *Policy) MaxAgeDuration() time.Duration {
	return time.Duration(p.MaxAge) * time.Second
}

// span is a piece of the input kept in the parsed policy.
type span struct {
	lo, hi int
}

// parser holds the state of one Parse call. Kept strings are recorded as
// spans of the input first and copied into one string at the end, so a
// policy costs a few allocations and never pins the caller's buffer.
type parser struct {
	body     []byte
	mode     Mode
	maxAge   uint32
	seen     uint8 // bit set of the known keys met so far
	mx       []span
	exts     [][2]span
	extIndex map[string]struct{}
	mxIndex  map[string]struct{} // the mx patterns kept, lower-cased, once there are many
	warnings []Warning
	keep     int // bytes of kept strings
}

const (
	seenVersion = 1 << iota
	seenMode
	seenMaxAge
)

// Parse parses a policy file (the body of
// https://mta-sts.<domain>/.well-known/mta-sts.txt) strictly per RFC 8461
// section 3.2:
//
//   - lines end in LF or CRLF, each on its own; the last may lack one; an
//     empty line (ErrEmptyLine), a CR without LF (ErrStrayCR) or a control
//     character is an error;
//   - each line is "key:" then optional white space and a value; trailing
//     white space is ignored; keys are case-sensitive;
//   - version (STSv1), mode and max_age are required, in any order; mx is
//     required at least once unless mode is none;
//   - a repeated key other than mx is ignored after its first occurrence,
//     with a warning, even when its value is not grammatical;
//   - a repeated mx pattern (in any case) is kept once, with a warning;
//   - max_age is 1 to 10 decimal digits; above [MaxMaxAge] it is capped,
//     with a warning;
//   - mx values are Domains of RFC 5321 or "*." and a Domain, in ASCII
//     (A-labels); they are lower-cased; a trailing dot, a U-label or any
//     other wildcard is an error; a numeric value (an IP address) is skipped
//     with a warning;
//   - other keys are extensions: kept, with a warning.
//
// Errors are [*SyntaxError] values wrapping the sentinels of this package;
// they quote the offending value, truncated.
// Parse is safe on any input; callers fetching a policy should still cap the
// body (RFC 8461 allows, and this project uses, 64 KiB). The returned policy
// does not reference body.
func Parse(body []byte) (*Policy, []Warning, error) {
	if len(body) == 0 {
		return nil, nil, &SyntaxError{Err: ErrEmpty}
	}
	ps := parser{body: body}
	// Every line may be an mx line: one allocation of an upper bound (a
	// single-byte count is vectorised) instead of a growing slice.
	ps.mx = make([]span, 0, bytes.Count(body, []byte{'\n'})+1)
	line := 0
	for pos := 0; pos < len(body); {
		line++
		end := len(body)
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		next := end + 1
		if end > pos && body[end-1] == '\r' && end < len(body) {
			end-- // CRLF
		}
		if bytes.IndexByte(body[pos:end], '\r') >= 0 {
			return nil, nil, &SyntaxError{Line: line, Err: ErrStrayCR}
		}
		if err := ps.line(line, pos, end); err != nil {
			return nil, nil, err
		}
		pos = next
	}
	return ps.finish()
}

// line parses one line, body[lo:hi] without its terminator.
func (ps *parser) line(n, lo, hi int) error {
	b := ps.body
	for hi > lo && txtrec.IsWSP(b[hi-1]) {
		hi--
	}
	if hi == lo {
		return &SyntaxError{Line: n, Err: ErrEmptyLine}
	}
	colon := bytes.IndexByte(b[lo:hi], ':')
	if colon < 0 {
		return valueError(n, "", b[lo:hi], ErrBadLine)
	}
	colon += lo
	key := b[lo:colon]
	if !txtrec.IsExtName(key) {
		return valueError(n, "", b[lo:hi], ErrBadLine)
	}
	vlo := colon + 1
	for vlo < hi && txtrec.IsWSP(b[vlo]) {
		vlo++
	}
	value := b[vlo:hi]
	switch string(key) {
	case keyVersion:
		if ps.seen&seenVersion != 0 {
			return ps.duplicate(n, keyVersion)
		}
		ps.seen |= seenVersion
		if string(value) != Version {
			return valueError(n, keyVersion, value, ErrBadVersion)
		}
	case keyMode:
		if ps.seen&seenMode != 0 {
			return ps.duplicate(n, keyMode)
		}
		ps.seen |= seenMode
		m, err := ParseMode(string(value))
		if err != nil {
			return valueError(n, keyMode, value, err)
		}
		ps.mode = m
	case keyMaxAge:
		if ps.seen&seenMaxAge != 0 {
			return ps.duplicate(n, keyMaxAge)
		}
		ps.seen |= seenMaxAge
		v, ok := parseMaxAge(value)
		if !ok {
			return valueError(n, keyMaxAge, value, ErrBadMaxAge)
		}
		if v > MaxMaxAge {
			v = MaxMaxAge
			ps.warn(n, keyMaxAge, WarnMaxAgeCapped)
		}
		ps.maxAge = uint32(v)
	case keyMX:
		return ps.mxValue(n, vlo, hi)
	default:
		if !isPolicyExtValue(value) {
			return valueError(n, string(key), value, ErrBadExtension)
		}
		if ps.hasExt(key) {
			ps.warn(n, string(key), WarnDuplicateKey)
			return nil
		}
		ps.addExt(span{lo, colon}, span{vlo, hi})
		ps.warn(n, string(key), WarnUnknownKey)
	}
	return nil
}

// duplicate handles a repeated non-mx key: the first occurrence wins, and
// a later one is ignored with a warning, whatever its value, even one that
// the grammar rejects (an empty "mode:" after "mode: enforce"): it has no
// effect, and rejecting the whole policy for it would let a harmless slip
// switch MTA-STS off.
func (ps *parser) duplicate(n int, key string) error {
	ps.warn(n, key, WarnDuplicateKey)
	return nil
}

func (ps *parser) mxValue(n, lo, hi int) error {
	v := ps.body[lo:hi]
	d := v
	if len(d) >= 2 && d[0] == '*' && d[1] == '.' {
		d = d[2:]
	}
	ok, numeric := checkDomain(d)
	if !ok {
		return valueError(n, keyMX, v, ErrBadMX)
	}
	if numeric {
		ps.warn(n, keyMX, WarnIPLiteral)
		return nil
	}
	if ps.hasMX(v) {
		ps.warn(n, keyMX, WarnDuplicateMX)
		return nil
	}
	ps.mx = append(ps.mx, span{lo, hi})
	ps.keep += hi - lo
	if len(ps.mx) == extIndexAt {
		ps.mxIndex = make(map[string]struct{}, 2*extIndexAt)
		for _, m := range ps.mx {
			ps.mxIndex[strings.ToLower(string(ps.body[m.lo:m.hi]))] = struct{}{}
		}
	} else if len(ps.mx) > extIndexAt {
		ps.mxIndex[strings.ToLower(string(v))] = struct{}{}
	}
	return nil
}

// hasMX reports whether the pattern v, in any case, is already kept.
func (ps *parser) hasMX(v []byte) bool {
	if ps.mxIndex != nil {
		_, ok := ps.mxIndex[strings.ToLower(string(v))]
		return ok
	}
	for _, m := range ps.mx {
		if bytes.EqualFold(ps.body[m.lo:m.hi], v) {
			return true
		}
	}
	return false
}

func (ps *parser) hasExt(key []byte) bool {
	if ps.extIndex != nil {
		_, ok := ps.extIndex[string(key)]
		return ok
	}
	for _, e := range ps.exts {
		if string(ps.body[e[0].lo:e[0].hi]) == string(key) {
			return true
		}
	}
	return false
}

// extIndexAt is the number of extensions past which duplicates are found
// through a map, so that no input makes the parser quadratic.
const extIndexAt = 16

func (ps *parser) addExt(k, v span) {
	ps.exts = append(ps.exts, [2]span{k, v})
	ps.keep += k.hi - k.lo + v.hi - v.lo
	switch {
	case len(ps.exts) == extIndexAt:
		ps.extIndex = make(map[string]struct{}, 2*extIndexAt)
		for _, e := range ps.exts {
			ps.extIndex[string(ps.body[e[0].lo:e[0].hi])] = struct{}{}
		}
	case len(ps.exts) > extIndexAt:
		ps.extIndex[string(ps.body[k.lo:k.hi])] = struct{}{}
	}
}

func (ps *parser) warn(n int, key string, code WarningCode) {
	ps.warnings = append(ps.warnings, Warning{Line: n, Key: key, Code: code})
}

// finish checks the required fields and builds the Policy.
func (ps *parser) finish() (*Policy, []Warning, error) {
	switch {
	case ps.seen&seenVersion == 0:
		return nil, nil, &SyntaxError{Key: keyVersion, Err: ErrMissingVersion}
	case ps.seen&seenMode == 0:
		return nil, nil, &SyntaxError{Key: keyMode, Err: ErrMissingMode}
	case ps.seen&seenMaxAge == 0:
		return nil, nil, &SyntaxError{Key: keyMaxAge, Err: ErrMissingMaxAge}
	case len(ps.mx) == 0 && ps.mode != ModeNone:
		return nil, nil, &SyntaxError{Key: keyMX, Err: ErrMissingMX}
	case len(ps.mx) > 0 && ps.mode == ModeNone:
		ps.warn(0, keyMX, WarnMXIgnored)
	}

	// Copy every kept string into one allocation, folding mx to lower case.
	var sb strings.Builder
	sb.Grow(ps.keep)
	for _, s := range ps.mx {
		v := ps.body[s.lo:s.hi]
		if !hasUpper(v) {
			sb.Write(v)
			continue
		}
		for _, c := range v {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			sb.WriteByte(c)
		}
	}
	for _, e := range ps.exts {
		sb.Write(ps.body[e[0].lo:e[0].hi])
		sb.Write(ps.body[e[1].lo:e[1].hi])
	}
	all := sb.String()

	p := &Policy{Mode: ps.mode, MaxAge: ps.maxAge}
	off := 0
	take := func(n int) string {
		s := all[off : off+n]
		off += n
		return s
	}
	if len(ps.mx) > 0 {
		p.MX = make([]string, len(ps.mx))
		for i, s := range ps.mx {
			p.MX[i] = take(s.hi - s.lo)
		}
	}
	if len(ps.exts) > 0 {
		p.Extensions = make([]Extension, len(ps.exts))
		for i, e := range ps.exts {
			p.Extensions[i].Key = take(e[0].hi - e[0].lo)
			p.Extensions[i].Value = take(e[1].hi - e[1].lo)
		}
	}
	return p, ps.warnings, nil
}

// parseMaxAge parses 1 to 10 ASCII decimal digits. Leading zeros are
// decimal, never octal.
func parseMaxAge(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if !txtrec.IsDigit(c) {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// isPolicyExtValue reports whether b is a policy file extension value:
// printable ASCII, spaces and UTF-8 characters, starting and ending with a
// non-space, no control characters (RFC 8461 section 3.2). Trailing white
// space has already been removed by the caller.
func isPolicyExtValue(b []byte) bool {
	if len(b) == 0 || b[0] == ' ' || b[len(b)-1] == ' ' {
		return false
	}
	ascii := true
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// Validate reports whether p is a valid policy: a valid mode, max_age at
// most MaxMaxAge, at least one mx pattern unless the mode is none, every
// pattern a lower-case A-label pattern, and well-formed, unique extensions
// that do not reuse the names of the defined keys. Every policy that Parse
// returns is valid; Validate is for policies built in code.
func (p *Policy) Validate() error {
	if !p.Mode.Valid() {
		return &SyntaxError{Key: keyMode, Err: ErrBadMode}
	}
	if p.MaxAge > MaxMaxAge {
		return &SyntaxError{Key: keyMaxAge, Err: ErrBadMaxAge}
	}
	if len(p.MX) == 0 && p.Mode != ModeNone {
		return &SyntaxError{Key: keyMX, Err: ErrMissingMX}
	}
	for _, m := range p.MX {
		if !ValidPattern(m) || hasUpper(m) {
			return &SyntaxError{Key: keyMX, Err: ErrBadMX}
		}
	}
	for i, e := range p.Extensions {
		switch {
		case !txtrec.IsExtName(e.Key) || !isPolicyExtValue([]byte(e.Value)) || strings.ContainsRune(e.Value, '\t'),
			e.Key == keyVersion || e.Key == keyMode || e.Key == keyMaxAge || e.Key == keyMX,
			hasExtension(p.Extensions[:i], e.Key):
			return &SyntaxError{Key: e.Key, Err: ErrBadExtension}
		}
	}
	return nil
}

// ValidPattern reports whether s is a valid mx pattern: an RFC 5321 Domain
// in ASCII, optionally preceded by "*.", that is not numeric. Case is not
// checked.
func ValidPattern(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	ok, numeric := checkDomain(s)
	return ok && !numeric
}

// String renders p as a canonical policy file: version, mode, each mx,
// max_age, then the extensions, one per line, each line ending in CRLF. For
// a valid policy, Parse of the result gives an equal Policy.
func (p *Policy) String() string {
	n := len("version: STSv1\r\nmode: enforce\r\nmax_age: 0000000000\r\n")
	for _, m := range p.MX {
		n += len("mx: \r\n") + len(m)
	}
	for _, e := range p.Extensions {
		n += len(": \r\n") + len(e.Key) + len(e.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, "version: "+Version+"\r\nmode: "...)
	b = append(b, p.Mode.String()...)
	b = append(b, "\r\n"...)
	for _, m := range p.MX {
		b = append(b, "mx: "...)
		b = append(b, m...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "max_age: "...)
	b = strconv.AppendUint(b, uint64(p.MaxAge), 10)
	b = append(b, "\r\n"...)
	for _, e := range p.Extensions {
		b = append(b, e.Key...)
		b = append(b, ": "...)
		b = append(b, e.Value...)
		b = append(b, "\r\n"...)
	}
	return string(b)
}

// MarshalText implements [encoding.TextMarshaler]; it fails for a policy
// that [Policy.Validate] rejects.
func (p *Policy) MarshalText() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with [Parse],
// discarding warnings.
func (p *Policy) UnmarshalText(b []byte) error {
	v, _, err := Parse(b)
	if err != nil {
		return err
	}
	*p = *v
	return nil
}

// Equal reports whether p and o are the same policy: same mode, max_age, mx
// patterns in the same order, and extensions.
func (p *Policy) Equal(o *Policy) bool {
	if p == nil || o == nil {
		return p == o
	}
	if p.Mode != o.Mode || p.MaxAge != o.MaxAge || len(p.MX) != len(o.MX) {
		return false
	}
	for i := range p.MX {
		if p.MX[i] != o.MX[i] {
			return false
		}
	}
	return equalExtensions(p.Extensions, o.Extensions)
}

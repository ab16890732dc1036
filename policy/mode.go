package policy

// Mode is the policy mode of RFC 8461 section 5. The zero Mode is not a valid
// mode; valid modes compare by strength: ModeNone < ModeTesting < ModeEnforce.
type Mode uint8

// The policy modes.
const (
	// ModeNone: treat the domain as though it had no policy (RFC 8461 §5).
	ModeNone Mode = iota + 1
	// ModeTesting: validate and report failures, but deliver anyway.
	ModeTesting
	// ModeEnforce: never deliver to an MX host that fails validation.
	ModeEnforce
)

// String returns the mode as it is written in a policy file, or "" for an
// invalid mode.
func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeTesting:
		return "testing"
	case ModeEnforce:
		return "enforce"
	}
	return ""
}

// Valid reports whether m is one of the three modes of RFC 8461.
func (m Mode) Valid() bool { return m >= ModeNone && m <= ModeEnforce }

// ParseMode parses a mode as written in a policy file. The comparison is
// case-sensitive, as the RFC's ABNF demands: "Enforce" is not a mode.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "none":
		return ModeNone, nil
	case "testing":
		return ModeTesting, nil
	case "enforce":
		return ModeEnforce, nil
	}
	return 0, ErrBadMode
}

// MarshalText implements [encoding.TextMarshaler].
func (m Mode) MarshalText() ([]byte, error) {
	if !m.Valid() {
		return nil, ErrBadMode
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler].
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

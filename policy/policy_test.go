package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseVectors(t *testing.T) {
	for _, v := range loadVectors[policyVector](t, "policies.json") {
		t.Run(v.Name, func(t *testing.T) {
			p, warns, err := Parse([]byte(v.Body))
			if v.Err != "" {
				want, ok := sentinels[v.Err]
				if !ok {
					t.Fatalf("unknown sentinel %q in vector", v.Err)
				}
				var se *SyntaxError
				if !errors.Is(err, want) || !errors.As(err, &se) {
					t.Fatalf("Parse = %+v, %v; want *SyntaxError wrapping %v", p, err, want)
				}
				if se.Line != v.Line {
					t.Errorf("error line = %d, want %d (%v)", se.Line, v.Line, err)
				}
				if p != nil || warns != nil {
					t.Errorf("Parse returned a policy or warnings with an error: %+v %v", p, warns)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Mode.String() != v.Mode {
				t.Errorf("mode = %q, want %q", p.Mode, v.Mode)
			}
			if p.MaxAge != v.MaxAge {
				t.Errorf("max_age = %d, want %d", p.MaxAge, v.MaxAge)
			}
			if !slices.Equal(p.MX, v.MX) {
				t.Errorf("mx = %q, want %q", p.MX, v.MX)
			}
			var exts []string
			for _, e := range p.Extensions {
				exts = append(exts, e.Key+": "+e.Value)
			}
			if !slices.Equal(exts, v.Extensions) {
				t.Errorf("extensions = %q, want %q", exts, v.Extensions)
			}
			var ws []string
			for _, w := range warns {
				for name, c := range warningCodes {
					if c == w.Code {
						ws = append(ws, fmt.Sprintf("%s@%d", name, w.Line))
					}
				}
			}
			if !slices.Equal(ws, v.Warnings) {
				t.Errorf("warnings = %q, want %q", ws, v.Warnings)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("parsed policy does not validate: %v", err)
			}
			back, _, err := Parse([]byte(p.String()))
			if err != nil || !back.Equal(p) {
				t.Errorf("round trip of %q: %+v, %v", p.String(), back, err)
			}
		})
	}
}

func TestParseRawBytes(t *testing.T) {
	base := "version: STSv1\nmode: none\nmax_age: 1\n"
	for name, tc := range map[string]struct {
		body string
		err  error
	}{
		"invalid_utf8_extension": {base + "ext: \xff\n", ErrBadExtension},
		"truncated_utf8":         {base + "ext: a\xc3\n", ErrBadExtension},
		"surrogate_utf8":         {base + "ext: \xed\xa0\x80\n", ErrBadExtension},
		"overlong_utf8":          {base + "ext: \xc0\xaf\n", ErrBadExtension},
		"del_in_value":           {base + "ext: a\x7fb\n", ErrBadExtension},
		"nul_in_key":             {"ver\x00sion: STSv1\n", ErrBadLine},
		"high_byte_in_mx":        {"version: STSv1\nmode: enforce\nmx: a\xff.example\nmax_age: 1\n", ErrBadMX},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.body))
			if !errors.Is(err, tc.err) {
				t.Fatalf("Parse(%q) = %v, want %v", tc.body, err, tc.err)
			}
		})
	}
}

func TestParseDoesNotRetainBody(t *testing.T) {
	body := []byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\nx: y\n")
	p, _, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = '#'
	}
	if p.MX[0] != "mail.example.com" || p.Extensions[0] != (Extension{"x", "y"}) {
		t.Fatalf("policy changed with the caller's buffer: %+v", p)
	}
}

func TestParseManyExtensionsIsLinear(t *testing.T) {
	// Thousands of distinct and repeated unknown keys: duplicates are found
	// through an index, not by a quadratic scan, and the first value wins.
	var b strings.Builder
	b.WriteString("version: STSv1\nmode: none\nmax_age: 1\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "k%d: %d\n", i%2000, i)
	}
	p, warns, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Extensions) != 2000 || p.Extensions[1999] != (Extension{"k1999", "1999"}) {
		t.Fatalf("got %d extensions, last %+v", len(p.Extensions), p.Extensions[len(p.Extensions)-1])
	}
	if len(warns) != 5000 {
		t.Fatalf("got %d warnings, want 5000", len(warns))
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	_, _, err := Parse([]byte("version: STSv1\nmode: Enforce\n"))
	if got, want := err.Error(), `policy: line 2: "mode": "Enforce": mode must be enforce, testing or none`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, _, err = Parse([]byte("version: STSv1\nmode: enforce\nmax_age: 1\n"))
	if got, want := err.Error(), `policy: "mx": missing mx (required unless mode is none)`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{Line: 4, Key: "foo", Code: WarnUnknownKey}
	if got, want := w.String(), `line 4: "foo": unknown key kept as an extension`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := WarningCode(200).String(); got != "warning 200" {
		t.Errorf("unknown code String() = %q", got)
	}
}

func TestPolicyValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		p   Policy
		err error
	}{
		"enforce":           {Policy{Mode: ModeEnforce, MaxAge: 1, MX: []string{"a.example", "*.b.example"}}, nil},
		"none_without_mx":   {Policy{Mode: ModeNone}, nil},
		"zero_mode":         {Policy{MX: []string{"a.example"}}, ErrBadMode},
		"max_age_too_large": {Policy{Mode: ModeNone, MaxAge: MaxMaxAge + 1}, ErrBadMaxAge},
		"missing_mx":        {Policy{Mode: ModeTesting}, ErrMissingMX},
		"upper_case_mx":     {Policy{Mode: ModeEnforce, MX: []string{"A.example"}}, ErrBadMX},
		"trailing_dot_mx":   {Policy{Mode: ModeEnforce, MX: []string{"a.example."}}, ErrBadMX},
		"numeric_mx":        {Policy{Mode: ModeEnforce, MX: []string{"192.0.2.1"}}, ErrBadMX},
		"ext_reuses_mode":   {Policy{Mode: ModeNone, Extensions: []Extension{{"mode", "x"}}}, ErrBadExtension},
		"ext_repeated":      {Policy{Mode: ModeNone, Extensions: []Extension{{"x", "1"}, {"x", "2"}}}, ErrBadExtension},
		"ext_tab":           {Policy{Mode: ModeNone, Extensions: []Extension{{"x", "a\tb"}}}, ErrBadExtension},
		"ext_trailing_sp":   {Policy{Mode: ModeNone, Extensions: []Extension{{"x", "a "}}}, ErrBadExtension},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.err == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				b, err := tc.p.MarshalText()
				if err != nil {
					t.Fatal(err)
				}
				var back Policy
				if err := back.UnmarshalText(b); err != nil || !back.Equal(&tc.p) {
					t.Fatalf("round trip: %+v, %v", back, err)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("Validate = %v, want %v", err, tc.err)
			}
			if _, err := tc.p.MarshalText(); !errors.Is(err, tc.err) {
				t.Fatalf("MarshalText = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestModeText(t *testing.T) {
	for _, m := range []Mode{ModeNone, ModeTesting, ModeEnforce} {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Mode
		if err := back.UnmarshalText(b); err != nil || back != m {
			t.Fatalf("%v: round trip %v, %v", m, back, err)
		}
	}
	if _, err := Mode(0).MarshalText(); !errors.Is(err, ErrBadMode) {
		t.Errorf("zero Mode marshals: %v", err)
	}
	var m Mode
	if err := m.UnmarshalText([]byte("Enforce")); !errors.Is(err, ErrBadMode) {
		t.Errorf("UnmarshalText(Enforce) = %v", err)
	}
	if !(ModeNone < ModeTesting && ModeTesting < ModeEnforce) {
		t.Error("modes do not order by strength")
	}
}

func TestEqual(t *testing.T) {
	a := &Policy{Mode: ModeEnforce, MaxAge: 1, MX: []string{"a.example"}}
	b := &Policy{Mode: ModeEnforce, MaxAge: 1, MX: []string{"a.example"}}
	if !a.Equal(b) {
		t.Error("equal policies differ")
	}
	b.MX = []string{"b.example"}
	if a.Equal(b) || a.Equal(nil) || !(*Policy)(nil).Equal(nil) {
		t.Error("Equal is wrong")
	}
}

func TestMaxAgeDuration(t *testing.T) {
	p := Policy{MaxAge: 86400}
	if got := p.MaxAgeDuration().Hours(); got != 24 {
		t.Errorf("MaxAgeDuration = %vh", got)
	}
}

// TestManyDuplicateMX: duplicates are found past the linear scan too, in
// any case, and each is kept once.
func TestManyDuplicateMX(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: STSv1\nmode: enforce\nmax_age: 1\n")
	for i := range 40 {
		fmt.Fprintf(&b, "mx: mx%d.example\n", i)
	}
	for i := range 40 {
		fmt.Fprintf(&b, "mx: MX%d.Example\n", i)
	}
	p, warns, err := Parse([]byte(b.String()))
	if err != nil || len(p.MX) != 40 || len(warns) != 40 {
		t.Fatalf("Parse: %d patterns, %d warnings, %v; want 40, 40", len(p.MX), len(warns), err)
	}
	for _, w := range warns {
		if w.Code != WarnDuplicateMX {
			t.Errorf("warning %v", w)
		}
	}
}

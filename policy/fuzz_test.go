package policy

import (
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, v := range loadVectors[policyVector](f, "policies.json") {
		f.Add([]byte(v.Body))
	}
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 1\next: \xff\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, warns, err := Parse(body)
		if err != nil {
			if p != nil || warns != nil {
				t.Fatalf("error %v with a policy or warnings", err)
			}
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			return
		}
		// Whatever Parse accepts must be valid and survive the round trip
		// unchanged.
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted policy does not validate: %v\n%q", err, body)
		}
		text := p.String()
		back, _, err := Parse([]byte(text))
		if err != nil {
			t.Fatalf("canonical text does not parse: %v\n%q", err, text)
		}
		if !back.Equal(p) {
			t.Fatalf("round trip changed the policy:\n%+v\n%+v", p, back)
		}
		if back.String() != text {
			t.Fatalf("canonical text is not stable: %q vs %q", text, back.String())
		}
		for _, m := range p.MX {
			if !ValidPattern(m) || hasUpper(m) {
				t.Fatalf("accepted bad mx %q", m)
			}
		}
		for _, e := range p.Extensions {
			if !utf8.ValidString(e.Value) {
				t.Fatalf("accepted invalid UTF-8 %q", e.Value)
			}
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	for _, v := range loadVectors[recordVector](f, "records.json") {
		for _, s := range v.TXT {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted record does not validate: %v\n%q", err, s)
		}
		text := r.String()
		back, err := ParseRecord(text)
		if err != nil || !back.Equal(r) {
			t.Fatalf("round trip of %q via %q: %+v, %v", s, text, back, err)
		}
		if got, err := ParseTXT([]string{"v=spf1 -all", s}); err != nil || !got.Equal(r) {
			t.Fatalf("ParseTXT disagrees with ParseRecord on %q: %+v, %v", s, got, err)
		}
	})
}

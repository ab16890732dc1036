package dane

import (
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, fails only with a *SyntaxError, and what
// it accepts survives the round trip through String unchanged; Check and
// NewSet take whatever it gives.
func FuzzParse(f *testing.F) {
	for _, v := range loadRecordVectors(f) {
		f.Add(v.Text)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			return
		}
		if len(r.Data) == 0 || len(r.Data) > maxData {
			t.Fatalf("accepted %d bytes of data", len(r.Data))
		}
		text := r.String()
		back, err := Parse(text)
		if err != nil || !back.Equal(r) {
			t.Fatalf("round trip of %q via %q: %v, %v", s, text, back, err)
		}
		if back.String() != text {
			t.Fatalf("String not canonical: %q then %q", text, back.String())
		}
		_ = r.Check()
		set, err := NewSet("mx.example.com", []Record{r, r})
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Usable())+len(set.Ignored()) != 2 {
			t.Fatalf("records lost: %v %v", set.Usable(), set.Ignored())
		}
		_ = set.Verify(nil, nil, testNow)
	})
}

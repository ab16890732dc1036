package policy

import (
	"errors"
	"slices"
	"testing"
)

func TestParseTXTVectors(t *testing.T) {
	for _, v := range loadVectors[recordVector](t, "records.json") {
		t.Run(v.Name, func(t *testing.T) {
			r, err := ParseTXT(v.TXT)
			if v.Err != "" {
				want, ok := sentinels[v.Err]
				if !ok {
					t.Fatalf("unknown sentinel %q in vector", v.Err)
				}
				if !errors.Is(err, want) {
					t.Fatalf("ParseTXT(%q) = %+v, %v; want error %v", v.TXT, r, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTXT(%q): %v", v.TXT, err)
			}
			if r.ID != v.ID {
				t.Errorf("id = %q, want %q", r.ID, v.ID)
			}
			var exts []string
			for _, e := range r.Extensions {
				exts = append(exts, e.Key+"="+e.Value)
			}
			if !slices.Equal(exts, v.Extensions) {
				t.Errorf("extensions = %q, want %q", exts, v.Extensions)
			}
			back, err := ParseRecord(r.String())
			if err != nil || !back.Equal(r) {
				t.Errorf("round trip of %q: %+v, %v", r.String(), back, err)
			}
		})
	}
}

func TestParseRecordRawBytes(t *testing.T) {
	for name, s := range map[string]string{
		"byte_ff":          "v=STSv1; id=a\xff",
		"byte_80_in_ext":   "v=STSv1; id=a; x=\x80",
		"nul_in_id":        "v=STSv1; id=a\x00b",
		"truncated_utf8":   "v=STSv1; id=a; x=\xc3",
		"del_in_ext_value": "v=STSv1; id=a; x=\x7f",
	} {
		t.Run(name, func(t *testing.T) {
			r, err := ParseRecord(s)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseRecord(%q) = %+v, %v; want *SyntaxError", s, r, err)
			}
		})
	}
}

func TestParseRecordErrorsAreSyntaxErrors(t *testing.T) {
	_, err := ParseRecord("v=STSv1; id=###")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Key != "id" || !errors.Is(err, ErrBadID) {
		t.Fatalf("got %v, want *SyntaxError for key id wrapping ErrBadID", err)
	}
	if got, want := err.Error(), `_mta-sts record: "id": "###": id must be 1 to 32 letters or digits`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestIsSTS(t *testing.T) {
	for s, want := range map[string]bool{
		"v=STSv1":        false, // RFC 8461 section 3.1: not "v=STSv1;", discarded
		"v=STSv1;":       true,
		"v=STSv1 \t;x":   true, // erratum 6285
		"v=STSv1 ":       false,
		"v=STSv10;":      false,
		"v=STSv1x":       false,
		"v=spf1 -all":    false,
		"":               false,
		" v=STSv1; id=a": false,
	} {
		if got := IsSTS(s); got != want {
			t.Errorf("IsSTS(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestRecordValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		r  Record
		ok bool
	}{
		"plain":            {Record{ID: "abc"}, true},
		"extension":        {Record{ID: "abc", Extensions: []Extension{{"x", "1"}}}, true},
		"empty_id":         {Record{}, false},
		"bad_id":           {Record{ID: "a-b"}, false},
		"ext_named_id":     {Record{ID: "a", Extensions: []Extension{{"id", "b"}}}, false},
		"ext_named_v":      {Record{ID: "a", Extensions: []Extension{{"v", "b"}}}, false},
		"ext_repeated":     {Record{ID: "a", Extensions: []Extension{{"x", "1"}, {"x", "2"}}}, false},
		"ext_value_space":  {Record{ID: "a", Extensions: []Extension{{"x", "1 2"}}}, false},
		"ext_name_invalid": {Record{ID: "a", Extensions: []Extension{{"_x", "1"}}}, false},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.r.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tc.r, err, tc.ok)
			}
			_, merr := tc.r.MarshalText()
			if (merr == nil) != tc.ok {
				t.Fatalf("MarshalText(%+v) = %v, want ok=%v", tc.r, merr, tc.ok)
			}
		})
	}
}

func TestRecordTextRoundTrip(t *testing.T) {
	in := Record{ID: "20160831085700Z", Extensions: []Extension{{"ext", "v"}}}
	b, err := in.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "v=STSv1; id=20160831085700Z; ext=v"; got != want {
		t.Fatalf("MarshalText = %q, want %q", got, want)
	}
	var out Record
	if err := out.UnmarshalText(b); err != nil || !out.Equal(in) {
		t.Fatalf("UnmarshalText = %+v, %v", out, err)
	}
}

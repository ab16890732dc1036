package tlsrpt

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// recordVector is a test vector of testdata/records.json; names start with
// a short id of the rule they cover (T<section>.<n>), which keeps them unique.
type recordVector struct {
	Name       string   `json:"name"`
	TXT        []string `json:"txt"`
	RUA        []string `json:"rua"`
	Ignored    []string `json:"ignored"`
	Extensions []string `json:"extensions"` // "key=value"
	Err        string   `json:"err"`
}

var sentinels = map[string]error{
	"ErrNoRecord":        ErrNoRecord,
	"ErrMultipleRecords": ErrMultipleRecords,
	"ErrBadRecord":       ErrBadRecord,
	"ErrNotASCII":        ErrNotASCII,
	"ErrMissingRUA":      ErrMissingRUA,
	"ErrBadURI":          ErrBadURI,
	"ErrNoUsableURI":     ErrNoUsableURI,
	"ErrBadExtension":    ErrBadExtension,
}

func TestParseTXT(t *testing.T) {
	for _, v := range loadJSON[[]recordVector](t, "records.json") {
		t.Run(v.Name, func(t *testing.T) {
			r, err := ParseTXT(v.TXT)
			if v.Err != "" {
				want, ok := sentinels[v.Err]
				if !ok {
					t.Fatalf("unknown sentinel %s", v.Err)
				}
				if !errors.Is(err, want) {
					t.Fatalf("got %v, %v; want %s", r, err, v.Err)
				}
				// Only a well-formed record without a destination comes
				// back with its error, holding what it ignored.
				if errors.Is(err, ErrNoUsableURI) {
					if len(r.RUA) != 0 || len(r.Ignored)+len(r.Unusable) == 0 {
						t.Errorf("ErrNoUsableURI with record %+v", r)
					}
				} else if !r.Equal(Record{}) {
					t.Errorf("error with a record: %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var exts []string
			for _, e := range r.Extensions {
				exts = append(exts, e.Key+"="+e.Value)
			}
			if !slices.Equal(r.RUA, v.RUA) || !slices.Equal(r.Ignored, v.Ignored) || !slices.Equal(exts, v.Extensions) {
				t.Errorf("got rua %q ignored %q ext %q; want %q %q %q", r.RUA, r.Ignored, exts, v.RUA, v.Ignored, v.Extensions)
			}
			back, err := ParseRecord(r.String())
			if err != nil || !back.Equal(r) {
				t.Errorf("round trip of %q: %+v, %v", r.String(), back, err)
			}
		})
	}
}

func TestParseRecordErrorText(t *testing.T) {
	_, err := ParseRecord("v=TLSRPTv1; rua=mailto:a@example.com!10m")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Field != "rua" || se.Value != "mailto:a@example.com!10m" {
		t.Fatalf("got %#v", err)
	}
	const want = `tlsrpt: "rua": "mailto:a@example.com!10m": malformed rua URI`
	if err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
}

func TestIsTLSRPT(t *testing.T) {
	for s, want := range map[string]bool{
		"v=TLSRPTv1;":      true,
		"v=TLSRPTv1 ;":     true,
		"v=TLSRPTv1\t;":    true,
		"v=TLSRPTv1":       false,
		"v=TLSRPTv10;":     false,
		"v=TLSRPTv1x":      false,
		"v=spf1 -all":      false,
		"":                 false,
		"V=TLSRPTv1; rua=": false,
	} {
		if got := IsTLSRPT(s); got != want {
			t.Errorf("IsTLSRPT(%q) = %v", s, got)
		}
	}
}

// txtMap is a TXTResolver over a map, for Lookup's name handling alone
// (the loopback world's DNS is used by the delivery tests).
type txtMap map[string][]string

func (m txtMap) TXT(_ context.Context, name string) ([]string, error) { return m[name], nil }

func TestLookupName(t *testing.T) {
	m := txtMap{
		"_smtp._tls.example.com":        {"v=TLSRPTv1; rua=mailto:a@example.com"},
		"_smtp._tls.mx1.provider.net":   {"v=TLSRPTv1; rua=mailto:dane@provider.net"},
		"_smtp._tls.xn--bcher-kva.test": {"v=TLSRPTv1; rua=mailto:idn@example.com"},
	}
	for domain, want := range map[string]string{
		"example.com":        "mailto:a@example.com",     // T56.1
		"Example.COM.":       "mailto:a@example.com",     // case, trailing dot
		"mx1.provider.net":   "mailto:dane@provider.net", // T56.2: TLSA base domain
		"bücher.test":        "mailto:idn@example.com",   // T56.3: A-labels
		"xn--bcher-kva.test": "mailto:idn@example.com",
	} {
		r, err := Lookup(context.Background(), m, domain)
		if err != nil || len(r.RUA) != 1 || r.RUA[0] != want {
			t.Errorf("Lookup(%q) = %+v, %v", domain, r, err)
		}
	}
	if _, err := Lookup(context.Background(), m, "nothing.example"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("no record: %v", err)
	}
	var de *DomainError
	if _, err := Lookup(context.Background(), m, "bad..example"); !errors.As(err, &de) {
		t.Errorf("bad domain: %v", err)
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, v := range loadJSON[[]recordVector](f, "records.json") {
		for _, s := range v.TXT {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			if errors.Is(err, ErrNoUsableURI) && len(r.RUA) == 0 {
				return // the record comes back to say what it ignored
			}
			if !r.Equal(Record{}) {
				t.Fatalf("error %v with a record", err)
			}
			return
		}
		if len(r.RUA) == 0 || !strings.HasPrefix(s, Version) {
			t.Fatalf("accepted %q without usable rua", s)
		}
		text := r.String()
		back, err := ParseRecord(text)
		if err != nil || !back.Equal(r) {
			t.Fatalf("round trip of %q via %q: %+v, %v", s, text, back, err)
		}
		if back.String() != text {
			t.Fatalf("canonical text not stable: %q vs %q", text, back.String())
		}
	})
}

func BenchmarkParseRecord(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"mailto", "v=TLSRPTv1;rua=mailto:reports@example.com"},
		{"two", "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reporting.example.com/v1/tlsrpt"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseRecord(tc.s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

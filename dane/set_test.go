package dane

import (
	"crypto/x509"
	"errors"
	"slices"
	"testing"

	"github.com/mtasts-go/mtasts/internal/testca"
)

// TestAgility follows RFC 7671 section 9: per usage and selector, a digest
// weaker than the strongest present is ignored; Full(0) always counts;
// records that are unusable anyway take no part.
func TestAgility(t *testing.T) {
	leaf, _ := testca.SelfSigned(t, testca.Spec{CN: "mx.example.com", DNSNames: []string{"mx.example.com"}})
	other, _ := testca.SelfSigned(t, testca.Spec{CN: "other.example.com"})
	r := func(u Usage, s Selector, m MatchingType) Record { return rec(u, s, m, leaf) }
	short := r(DANEEE, SPKI, SHA512)
	short.Data = short.Data[:63]
	unknown := r(DANEEE, SPKI, SHA256)
	unknown.MatchingType = 3
	private := r(DANEEE, SPKI, SHA512)
	private.MatchingType = 255
	pkix := r(PKIXEE, SPKI, SHA512)
	for _, c := range []struct {
		name    string
		records []Record
		usable  []Record
		weaker  []Record // ignored by agility
	}{
		{"sha256_alone", []Record{r(3, 1, 1)}, []Record{r(3, 1, 1)}, nil},
		{"sha512_hides_sha256",
			[]Record{r(3, 1, 1), r(3, 1, 2)}, []Record{r(3, 1, 2)}, []Record{r(3, 1, 1)}},
		{"rfc7671_example_full_sha256_sha512",
			[]Record{r(3, 1, 0), r(3, 1, 1), r(3, 1, 2)}, []Record{r(3, 1, 0), r(3, 1, 2)}, []Record{r(3, 1, 1)}},
		{"full_does_not_hide_sha256",
			[]Record{r(3, 1, 0), r(3, 1, 1)}, []Record{r(3, 1, 0), r(3, 1, 1)}, nil},
		{"per_selector",
			[]Record{r(3, 1, 1), r(3, 0, 2)}, []Record{r(3, 1, 1), r(3, 0, 2)}, nil},
		{"per_usage",
			[]Record{r(3, 1, 1), r(2, 1, 2)}, []Record{r(3, 1, 1), r(2, 1, 2)}, nil},
		{"several_sha256_of_one_kind_stay",
			[]Record{r(3, 1, 1), rec(3, 1, 1, other)}, []Record{r(3, 1, 1), rec(3, 1, 1, other)}, nil},
		{"malformed_sha512_does_not_hide_sha256",
			[]Record{r(3, 1, 1), short}, []Record{r(3, 1, 1)}, nil},
		{"unknown_matching_type_does_not_hide_sha256",
			[]Record{r(3, 1, 1), unknown, private}, []Record{r(3, 1, 1)}, nil},
		{"pkix_sha512_does_not_hide_dane_sha256",
			[]Record{r(3, 1, 1), pkix}, []Record{r(3, 1, 1)}, nil},
		{"weaker_of_each_group",
			[]Record{r(2, 0, 1), r(2, 0, 2), r(3, 1, 1), r(3, 1, 2)},
			[]Record{r(3, 1, 2), r(2, 0, 2)}, []Record{r(2, 0, 1), r(3, 1, 1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustSet(t, "mx.example.com", c.records...)
			if got := s.Usable(); !slices.EqualFunc(got, c.usable, Record.Equal) {
				t.Errorf("Usable() = %v, want %v", got, c.usable)
			}
			var weaker []Record
			for _, ig := range s.Ignored() {
				if ig.Err == ErrWeakerDigest {
					weaker = append(weaker, ig.Record)
				}
			}
			if !slices.EqualFunc(weaker, c.weaker, Record.Equal) {
				t.Errorf("ignored as weaker: %v, want %v", weaker, c.weaker)
			}
			if len(s.Usable())+len(s.Ignored()) != len(c.records) {
				t.Errorf("%d usable + %d ignored, want %d records", len(s.Usable()), len(s.Ignored()), len(c.records))
			}
		})
	}
}

// A server key that matches only the weaker digest is not accepted; one
// that matches the full key or the stronger digest is (the example of RFC
// 7671 section 9).
func TestAgility_verify(t *testing.T) {
	leaf, _ := testca.SelfSigned(t, testca.Spec{CN: "mx.example.com"})
	old, _ := testca.SelfSigned(t, testca.Spec{CN: "mx.example.com"})
	for _, c := range []struct {
		name    string
		records []Record
		want    error
	}{
		{"matches_sha512", []Record{rec(3, 1, 1, old), rec(3, 1, 2, leaf)}, nil},
		{"matches_full", []Record{rec(3, 1, 0, leaf), rec(3, 1, 1, old), rec(3, 1, 2, old)}, nil},
		{"matches_only_the_weaker_sha256", []Record{rec(3, 1, 1, leaf), rec(3, 1, 2, old)}, ErrNoMatch},
		{"sha256_alone", []Record{rec(3, 1, 1, leaf)}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustSet(t, "mx.example.com", c.records...)
			err := s.Verify([]*x509.Certificate{leaf}, nil, testNow)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestNewSet_base(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"mx.example.com", "mx.example.com"},
		{"MX.Example.COM.", "mx.example.com"},
		{"mx.bücher.example", "mx.xn--bcher-kva.example"},
	} {
		s, err := NewSet(c.in, nil)
		if err != nil || s.Base() != c.want {
			t.Errorf("NewSet(%q): base %q, %v; want %q", c.in, s.Base(), err, c.want)
		}
	}
	for _, bad := range []string{"", ".", "mx..example.com", "-mx.example.com", "192.0.2.1", "mx_1.example.com", "\xff.example"} {
		_, err := NewSet(bad, nil)
		var ne *NameError
		if !errors.As(err, &ne) || !errors.Is(err, ErrInvalidName) {
			t.Errorf("NewSet(%q) = %v, want a *NameError", bad, err)
		}
	}
}

// PolicyStrings lists every record of the RRset, usable or not, in the
// form of RFC 8460 section 4.5; NewSet copies the records.
func TestSet_PolicyStrings(t *testing.T) {
	a, _ := Parse("3 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D")
	b, _ := Parse("1 0 1 12350a337e6db9c6123522d136a475638cc43e1ed424f8eec8513d747d1d1234")
	in := []Record{a, b}
	s := mustSet(t, "mx1.provider.net", in...)
	in[0].Data[0] = 0
	want := []string{
		"3 1 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D",
		"1 0 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234",
	}
	if got := s.PolicyStrings(); !slices.Equal(got, want) {
		t.Errorf("PolicyStrings() = %q, want %q", got, want)
	}
	if got := s.Records(); len(got) != 2 || got[0].Data[0] != 0x1F {
		t.Errorf("Records() = %v: NewSet did not copy the data", got)
	}
	if !s.IsUsable() || len(s.Ignored()) != 1 || s.Ignored()[0].Err != ErrPKIXUsage {
		t.Errorf("IsUsable %v, Ignored %v", s.IsUsable(), s.Ignored())
	}
}

package dane

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/testca"
)

// recordVector is a vector of testdata/records.json: text parses to want
// (in presentation form), which Check finds usable ("") or unusable for
// the reason whose text contains check; or text does not parse (error).
type recordVector struct {
	Name  string `json:"name"`
	Text  string `json:"text"`
	Want  string `json:"want"`
	Check string `json:"check"`
	Error bool   `json:"error"`
}

func loadRecordVectors(t testing.TB) []recordVector {
	t.Helper()
	b, err := os.ReadFile("testdata/records.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []recordVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestParse(t *testing.T) {
	for _, v := range loadRecordVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			r, err := Parse(v.Text)
			if v.Error {
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("Parse(%q) = %v, %v; want a *SyntaxError", v.Text, r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", v.Text, err)
			}
			if got := r.String(); got != v.Want {
				t.Errorf("String() = %q, want %q", got, v.Want)
			}
			err = r.Check()
			switch {
			case v.Check == "" && err != nil:
				t.Errorf("Check() = %v, want usable", err)
			case v.Check != "" && (err == nil || !strings.Contains(err.Error(), v.Check)):
				t.Errorf("Check() = %v, want an error about %q", err, v.Check)
			}
			back, err := Parse(r.String())
			if err != nil || !back.Equal(r) {
				t.Errorf("round trip: %v, %v", back, err)
			}
		})
	}
}

func TestParse_data_longer_than_rdata(t *testing.T) {
	s := "3 1 0 " + strings.Repeat("ab", maxData+1)
	var se *SyntaxError
	if _, err := Parse(s); !errors.As(err, &se) {
		t.Fatalf("Parse of %d bytes of data: %v, want a *SyntaxError", maxData+1, err)
	}
	if len(se.Text) > 64 {
		t.Errorf("SyntaxError.Text holds %d bytes, want at most 64", len(se.Text))
	}
	if _, err := Parse("3 1 0 " + strings.Repeat("ab", maxData)); err != nil {
		t.Errorf("Parse of %d bytes of data: %v", maxData, err)
	}
}

// The record of a zone file line, read by miekg/dns, is the record of its
// RDATA read by Parse, and RR writes it back.
func TestFromRR_zone_line(t *testing.T) {
	const rdata = "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"
	rr, err := dns.NewRR("_25._tcp.mx.example.com. 300 IN TLSA ( 3 1 1 0c72ac70b745ac19998811b131d662c9\n ac69dbdbe7cb23e5b514b56664c5d3d6 )")
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromRR(rr.(*dns.TLSA))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Parse(rdata)
	if !got.Equal(want) {
		t.Fatalf("FromRR = %v, want %v", got, want)
	}
	back := got.RR("_25._tcp.mx.example.com", 300)
	if !dns.IsDuplicate(back, rr) {
		t.Errorf("RR = %v, want %v", back, rr)
	}
	// And the wire form round-trips too.
	buf := make([]byte, 512)
	n, err := dns.PackRR(back, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	unpacked, _, err := dns.UnpackRR(buf[:n], 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := FromRR(unpacked.(*dns.TLSA)); err != nil || !got.Equal(want) {
		t.Errorf("FromRR after the wire = %v, %v", got, err)
	}
}

func TestFromRR_bad_hex(t *testing.T) {
	for _, rr := range []*dns.TLSA{nil, {Usage: 3, Selector: 1, MatchingType: 1, Certificate: "xyz"}} {
		var se *SyntaxError
		if _, err := FromRR(rr); !errors.As(err, &se) {
			t.Errorf("FromRR(%v) = %v, want a *SyntaxError", rr, err)
		}
	}
}

// TestCheck_every_parameter covers usage × selector × matching type,
// including the values no RFC defines, each with data of the right length.
func TestCheck_every_parameter(t *testing.T) {
	ca := testca.NewRoot(t, testca.Spec{CN: "Test CA"})
	for u := range Usage(5) {
		for s := range Selector(3) {
			for m := range MatchingType(4) {
				r := rec(u, s%2, m%3, ca.Cert) // data of the right kind and length
				r.Usage, r.Selector, r.MatchingType = u, s, m
				var want error
				switch {
				case u == PKIXTA || u == PKIXEE:
					want = ErrPKIXUsage
				case u > DANEEE:
					want = ErrUnknownUsage
				case s > SPKI:
					want = ErrUnknownSelector
				case m > SHA512:
					want = ErrUnknownMatchingType
				}
				if err := r.Check(); err != want {
					t.Errorf("%d %d %d: Check() = %v, want %v", u, s, m, err, want)
				}
			}
		}
	}
}

func TestCheck_data(t *testing.T) {
	ca := testca.NewRoot(t, testca.Spec{CN: "Test CA"})
	spkiAsCert := rec(DANETA, SPKI, Full, ca.Cert)
	spkiAsCert.Selector = Cert
	certAsSPKI := rec(DANETA, Cert, Full, ca.Cert)
	certAsSPKI.Selector = SPKI
	trailing := rec(DANETA, SPKI, Full, ca.Cert)
	trailing.Data = append(trailing.Data, 0)
	for _, c := range []struct {
		name string
		r    Record
		want error
	}{
		{"sha256_32_bytes", Record{DANEEE, SPKI, SHA256, make([]byte, 32)}, nil},
		{"sha256_31_bytes", Record{DANEEE, SPKI, SHA256, make([]byte, 31)}, ErrDataLength},
		{"sha256_33_bytes", Record{DANEEE, SPKI, SHA256, make([]byte, 33)}, ErrDataLength},
		{"sha512_64_bytes", Record{DANEEE, SPKI, SHA512, make([]byte, 64)}, nil},
		{"sha512_63_bytes", Record{DANEEE, SPKI, SHA512, make([]byte, 63)}, ErrDataLength},
		{"sha512_as_sha256", Record{DANEEE, SPKI, SHA512, make([]byte, 32)}, ErrDataLength},
		{"full_empty", Record{DANEEE, Cert, Full, nil}, ErrDataLength},
		{"full_cert", rec(DANETA, Cert, Full, ca.Cert), nil},
		{"full_spki", rec(DANETA, SPKI, Full, ca.Cert), nil},
		{"full_spki_as_cert", spkiAsCert, ErrMalformedData},
		{"full_cert_as_spki", certAsSPKI, ErrMalformedData},
		{"full_spki_trailing_byte", trailing, ErrMalformedData},
		{"zero_record", Record{}, ErrPKIXUsage},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.r.Check(); err != c.want {
				t.Errorf("Check() = %v, want %v", err, c.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{DANEEE.String(), "DANE-EE(3)"},
		{DANETA.String(), "DANE-TA(2)"},
		{PKIXEE.String(), "PKIX-EE(1)"},
		{PKIXTA.String(), "PKIX-TA(0)"},
		{Usage(9).String(), "usage(9)"},
		{Cert.String(), "Cert(0)"},
		{SPKI.String(), "SPKI(1)"},
		{Selector(255).String(), "selector(255)"},
		{Full.String(), "Full(0)"},
		{SHA256.String(), "SHA2-256(1)"},
		{SHA512.String(), "SHA2-512(2)"},
		{MatchingType(7).String(), "matching(7)"},
		{Record{Usage: 3, Selector: 1, MatchingType: 1}.String(), "3 1 1"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

package dane

import (
	"crypto/x509"
	"testing"
)

var sinkErr error

// BenchmarkVerify measures the check of one handshake. The floor is what
// crypto/tls itself does for a WebPKI handshake of the same chain:
// x509.Certificate.Verify with a prepared root pool and a fresh pool of
// intermediates. DANE-EE needs no chain and should be far below it;
// DANE-TA builds the chain as crypto/x509 does, plus the TLSA match, so
// should stay within about 1.5 times of it.
func BenchmarkVerify(b *testing.B) {
	p := newPKI(b)
	full := chain(p.leaf, p.inter.Cert, p.root.Cert)
	cases := []struct {
		name    string
		records []Record
		chain   []*x509.Certificate
	}{
		{"dane_ee_3_1_1", []Record{rec(DANEEE, SPKI, SHA256, p.leaf)}, chain(p.leaf)},
		{"dane_ee_3_0_2", []Record{rec(DANEEE, Cert, SHA512, p.leaf)}, chain(p.leaf)},
		{"dane_ta_2_0_1_root_in_chain", []Record{rec(DANETA, Cert, SHA256, p.root.Cert)}, full},
		{"dane_ta_2_1_0_key_not_in_chain", []Record{rec(DANETA, SPKI, Full, p.root.Cert)}, chain(p.leaf, p.inter.Cert)},
		{"no_match_ee_and_ta", []Record{rec(DANEEE, SPKI, SHA256, p.selfSigned), rec(DANETA, Cert, SHA256, p.otherRoot.Cert)}, full},
	}
	for _, c := range cases {
		s := mustSet(b, "mx.example.com", c.records...)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkErr = s.Verify(c.chain, nil, testNow)
			}
		})
	}
	b.Run("floor_x509_verify", func(b *testing.B) {
		roots := p.root.Pool()
		b.ReportAllocs()
		for b.Loop() {
			opts := x509.VerifyOptions{Roots: roots, CurrentTime: testNow, DNSName: "mx.example.com",
				Intermediates: x509.NewCertPool()}
			for _, c := range full[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, sinkErr = full[0].Verify(opts)
		}
	})
}

// BenchmarkParse measures the presentation-form parser on a "3 1 1"
// record.
func BenchmarkParse(b *testing.B) {
	const s = "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = Parse(s)
	}
}

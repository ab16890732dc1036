package validate

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testca"
	"github.com/mtasts-go/mtasts/policy"
)

var sink bool

// BenchmarkMatchMX measures the hot path of RFC 8461 section 4.1. Targets:
// exact and wildcard at most 10 ns, no allocation.
func BenchmarkMatchMX(b *testing.B) {
	cases := []struct{ name, pattern, host string }{
		{"exact", "mx1.example.com", "mx1.example.com"},
		{"wildcard", "*.example.com", "mx1.example.com"},
		{"exact_upper_trailing_dot", "mx1.example.com", "MX1.Example.COM."},
		{"wildcard_upper", "*.example.com", "MX1.EXAMPLE.COM"},
		{"mismatch_same_length", "mx1.example.com", "mx2.example.net"},
		{"mismatch_wildcard_depth", "*.example.com", "a.mx1.example.com"},
		{"idn_u_label", "*.xn--bcher-kva.example", "mx.bücher.example"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = MatchMX(c.pattern, c.host)
			}
		})
	}
}

// BenchmarkAllows measures a policy of three patterns. Target: at most
// 30 ns, no allocation.
func BenchmarkAllows(b *testing.B) {
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400,
		MX: []string{"mx1.example.net", "mx2.example.net", "*.example.com"}}
	cases := []struct{ name, host string }{
		{"first", "mx1.example.net"},
		{"last_wildcard", "mx3.example.com"},
		{"none", "mx.example.org"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = Allows(p, c.host)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var ok bool
			for pb.Next() {
				ok = Allows(p, "mx3.example.com")
			}
			_ = ok
		})
	})
}

// BenchmarkVerifyConnection measures one handshake's verification: a leaf
// and an intermediate, ECDSA P-256, dominated by crypto/x509.
func BenchmarkVerifyConnection(b *testing.B) {
	root := testca.NewRoot(b, testca.Spec{CN: "Root"})
	inter := root.Intermediate(b, testca.Spec{CN: "Intermediate"})
	leaf, _ := inter.Leaf(b, testca.Spec{DNSNames: []string{"mx1.example.com"}})
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400, MX: []string{"*.example.com"}}
	verify := VerifyConnection(p, "mx1.example.com", Options{Roots: root.Pool(), Clock: func() time.Time { return testNow }})
	cs := tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{leaf, inter.Cert}}
	b.ReportAllocs()
	for b.Loop() {
		if err := verify(cs); err != nil {
			b.Fatal(err)
		}
	}
}

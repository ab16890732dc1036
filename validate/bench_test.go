package validate

import (
	"testing"

	"github.com/mtasts-go/mtasts/policy"
)

var sink bool

func BenchmarkMatchMX(b *testing.B) {
	b.Run("exact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = MatchMX("mx1.example.com", "mx1.example.com")
		}
	})
	b.Run("wildcard", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = MatchMX("*.example.com", "mx1.example.com")
		}
	})
	b.Run("exact_upper_trailing_dot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = MatchMX("mx1.example.com", "MX1.Example.COM.")
		}
	})
	b.Run("mismatch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = MatchMX("mx1.example.com", "mx2.example.net")
		}
	})
	b.Run("idn", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = MatchMX("*.xn--bcher-kva.example", "mx.bücher.example")
		}
	})
}

func BenchmarkAllows(b *testing.B) {
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400,
		MX: []string{"mx1.example.net", "mx2.example.net", "*.example.com"}}
	b.ReportAllocs()
	for b.Loop() {
		sink = Allows(p, "mx3.example.com")
	}
}

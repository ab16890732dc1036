package policy

import (
	"fmt"
	"strings"
	"testing"
)

var (
	typicalPolicy = []byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n")
	typicalRecord = "v=STSv1; id=20160831085700Z;"
)

func policyWithMX(n int) []byte {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: enforce\r\n")
	for i := range n {
		fmt.Fprintf(&b, "mx: mx%d.mail.example.com\r\n", i)
	}
	b.WriteString("max_age: 604800\r\n")
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"3mx", typicalPolicy},
		{"100mx", policyWithMX(100)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				if _, _, err := Parse(tc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseRecord(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecord(typicalRecord); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTXT(b *testing.B) {
	txts := []string{"v=spf1 -all", typicalRecord}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTXT(txts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPolicyString(b *testing.B) {
	p, _, _ := Parse(typicalPolicy)
	b.ReportAllocs()
	for b.Loop() {
		_ = p.String()
	}
}

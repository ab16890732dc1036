package dane

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"testing"

	"github.com/mtasts-go/mtasts/internal/testca"
)

// testNow is the time at which the tests verify certificates.
var testNow = testca.Now()

// Validity windows relative to testNow; longAgo and farAhead are those of a
// testca.Spec that leaves them zero.
var (
	longAgo  = testNow.AddDate(-5, 0, 0)
	farAhead = testNow.AddDate(5, 0, 0)
	lastYear = testNow.AddDate(-1, 0, 0)
	nextYear = testNow.AddDate(1, 0, 0)
)

// rec returns the record of usage u, selector s and matching type m for
// cert.
func rec(u Usage, s Selector, m MatchingType, cert *x509.Certificate) Record {
	in := cert.Raw
	if s == SPKI {
		in = cert.RawSubjectPublicKeyInfo
	}
	var data []byte
	switch m {
	case Full:
		data = in
	case SHA256:
		sum := sha256.Sum256(in)
		data = sum[:]
	case SHA512:
		sum := sha512.Sum512(in)
		data = sum[:]
	}
	return Record{Usage: u, Selector: s, MatchingType: m, Data: data}
}

// mustSet returns the Set of records at base, or fails the test.
func mustSet(t testing.TB, base string, records ...Record) *Set {
	t.Helper()
	s, err := NewSet(base, records)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

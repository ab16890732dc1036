package dane

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testca"
)

// testNow is the time at which the tests verify certificates.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Validity windows relative to testNow.
var (
	longAgo  = testNow.AddDate(-5, 0, 0)
	farAhead = testNow.AddDate(5, 0, 0)
	lastYear = testNow.AddDate(-1, 0, 0)
	nextYear = testNow.AddDate(1, 0, 0)
)

// testCA is a throwaway certificate authority (ECDSA P-256), a root or an
// intermediate.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// certSpec describes a certificate to issue. Zero times mean longAgo and
// farAhead; a nil extKeyUsage means server authentication.
type certSpec struct {
	cn          string
	dnsNames    []string
	notBefore   time.Time
	notAfter    time.Time
	extKeyUsage []x509.ExtKeyUsage
	isCA        bool
}

func newKey(t testing.TB) *ecdsa.PrivateKey { return testca.NewKey(t) }

// newRootCA makes a self-signed root, valid from longAgo to farAhead unless
// s says otherwise.
func newRootCA(t testing.TB, s certSpec) *testCA {
	t.Helper()
	key := newKey(t)
	s.isCA = true
	return &testCA{cert: issue(t, s, nil, key, key.Public()), key: key}
}

// intermediate issues an intermediate CA under ca.
func (ca *testCA) intermediate(t testing.TB, s certSpec) *testCA {
	t.Helper()
	key := newKey(t)
	s.isCA = true
	return &testCA{cert: issue(t, s, ca, nil, key.Public()), key: key}
}

// leaf issues an end-entity certificate under ca, with its key.
func (ca *testCA) leaf(t testing.TB, s certSpec) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	return issue(t, s, ca, nil, key.Public()), key
}

// selfSigned makes a self-signed end-entity certificate, as DANE-EE
// servers often use.
func selfSigned(t testing.TB, s certSpec) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	return issue(t, s, nil, key, key.Public()), key
}

// issue signs a certificate for pub by parent (self-signed with selfKey
// when parent is nil); zero times mean longAgo and farAhead.
func issue(t testing.TB, s certSpec, parent *testCA, selfKey *ecdsa.PrivateKey, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	var p *testca.CA
	if parent != nil {
		p = &testca.CA{Cert: parent.cert, Key: parent.key}
	}
	return testca.Issue(t, testca.Spec{CN: s.cn, DNSNames: s.dnsNames, NotBefore: cmp.Or(s.notBefore, longAgo),
		NotAfter: cmp.Or(s.notAfter, farAhead), ExtKeyUsage: s.extKeyUsage, IsCA: s.isCA}, p, selfKey, pub)
}

// tlsCert makes a server certificate out of a chain (leaf first) and key.
func tlsCert(key *ecdsa.PrivateKey, chain ...*x509.Certificate) tls.Certificate {
	return testca.TLSCert(key, chain...)
}

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

// pool returns a pool holding only ca.
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

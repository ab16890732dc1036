package validate

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testca"
)

// testNow is the time at which the tests validate certificates.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Validity windows relative to testNow.
var (
	longAgo  = testNow.AddDate(-5, 0, 0)
	farAhead = testNow.AddDate(5, 0, 0)
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

// newRootCA makes a self-signed root valid from longAgo to farAhead.
func newRootCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := newKey(t)
	cert := issue(t, certSpec{cn: name, isCA: true}, nil, key, key.Public())
	return &testCA{cert: cert, key: key}
}

// pool returns a pool holding only ca.
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
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

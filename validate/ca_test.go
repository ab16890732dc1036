package validate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
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

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

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
// when parent is nil).
func issue(t testing.TB, s certSpec, parent *testCA, selfKey *ecdsa.PrivateKey, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	if s.notBefore.IsZero() {
		s.notBefore = longAgo
	}
	if s.notAfter.IsZero() {
		s.notAfter = farAhead
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.cn},
		DNSNames:              s.dnsNames,
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  s.isCA,
	}
	if s.isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = s.extKeyUsage
		if tmpl.ExtKeyUsage == nil {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
	}
	signer, signerCert := selfKey, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// tlsCert makes a server certificate out of a chain (leaf first) and key.
func tlsCert(key *ecdsa.PrivateKey, chain ...*x509.Certificate) tls.Certificate {
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

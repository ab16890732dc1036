// Package testca issues throwaway X.509 certificates (ECDSA P-256) for the
// tests of the packages that check certificates: roots, intermediates,
// leaves and self-signed certificates with the validity, names and key
// usages a test asks for.
//
// A chain is built from a root down:
//
//	root := testca.NewRoot(t, testca.Spec{CN: "Test Root"})
//	inter := root.Intermediate(t, testca.Spec{CN: "Test Intermediate"})
//	leaf, key := inter.Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}})
//
// Unless a Spec says otherwise, every certificate is valid from five years
// before Now to five years after it.
package testca

import (
	"cmp"
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

// CA is a certificate authority of a test: a root or an intermediate.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Now is the instant at which tests check the certificates of this
// package: fixed, so that a validity window relative to it means the same in
// every run.
func Now() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

// Spec describes a certificate to issue. A zero NotBefore means five years
// before Now, a zero NotAfter five years after it; a nil ExtKeyUsage means
// server authentication (for a certificate that is not a CA).
type Spec struct {
	CN          string
	DNSNames    []string
	NotBefore   time.Time
	NotAfter    time.Time
	ExtKeyUsage []x509.ExtKeyUsage
	IsCA        bool
}

// NewKey returns a new ECDSA P-256 key, or fails the test.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewRoot makes a self-signed root CA described by s (IsCA is implied).
func NewRoot(t testing.TB, s Spec) *CA {
	t.Helper()
	key := NewKey(t)
	s.IsCA = true
	return &CA{Cert: Issue(t, s, nil, key, key.Public()), Key: key}
}

// Intermediate issues an intermediate CA under ca (IsCA is implied).
func (ca *CA) Intermediate(t testing.TB, s Spec) *CA {
	t.Helper()
	key := NewKey(t)
	s.IsCA = true
	return &CA{Cert: Issue(t, s, ca, nil, key.Public()), Key: key}
}

// Leaf issues an end-entity certificate under ca, and returns it with its
// key.
func (ca *CA) Leaf(t testing.TB, s Spec) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := NewKey(t)
	return Issue(t, s, ca, nil, key.Public()), key
}

// SelfSigned makes a self-signed end-entity certificate, as DANE-EE servers
// often use, and returns it with its key.
func SelfSigned(t testing.TB, s Spec) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := NewKey(t)
	return Issue(t, s, nil, key, key.Public()), key
}

// Pool returns a certificate pool holding only ca.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue signs a certificate for pub by parent, or self-signed with selfKey
// when parent is nil, and fails the test on any error. It is the general
// form of NewRoot, Intermediate, Leaf and SelfSigned, for a key of the
// test's own or a parent that is not a CA.
func Issue(t testing.TB, s Spec, parent *CA, selfKey *ecdsa.PrivateKey, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.CN},
		DNSNames:              s.DNSNames,
		NotBefore:             cmp.Or(s.NotBefore, Now().AddDate(-5, 0, 0)),
		NotAfter:              cmp.Or(s.NotAfter, Now().AddDate(5, 0, 0)),
		BasicConstraintsValid: true,
		IsCA:                  s.IsCA,
	}
	if s.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = s.ExtKeyUsage
		if tmpl.ExtKeyUsage == nil {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
	}
	signer, signerCert := selfKey, tmpl
	if parent != nil {
		signer, signerCert = parent.Key, parent.Cert
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

// TLSCert makes a server certificate out of a chain (leaf first) and key.
func TLSCert(key *ecdsa.PrivateKey, chain ...*x509.Certificate) tls.Certificate {
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// A CA is a throwaway certificate authority with an ECDSA P-256 key, living
// only in memory. It is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	now  func() time.Time
}

// CertSpec describes a leaf certificate for [CA.Issue] and [CA.SelfSigned].
type CertSpec struct {
	// CommonName is the subject common name; empty means none.
	CommonName string
	// DNSNames are the DNS subject alternative names, written as given
	// (wildcards included).
	DNSNames []string
	// IPAddresses are the IP subject alternative names.
	IPAddresses []net.IP
	// NotBefore defaults to an hour before the CA's clock reads now.
	NotBefore time.Time
	// NotAfter defaults to five years after the CA's clock reads now.
	NotAfter time.Time
}

// NewCA makes a certificate authority called name. Its certificate is valid
// from an hour before now until twenty years after; now is the clock used
// for that and for certificate defaults (nil means time.Now).
func NewCA(name string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testserver: ca key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"mtasts testserver"}},
		NotBefore:             t.Add(-time.Hour),
		NotAfter:              t.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testserver: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testserver: ca certificate: %w", err)
	}
	return &CA{cert: cert, key: key, now: now}, nil
}

// Certificate returns the CA's own certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a new pool holding only the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// PEM returns the CA's certificate PEM-encoded, for tools that read a CA
// file.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// Issue mints a leaf certificate for TLS servers, signed by the CA, with a
// fresh ECDSA P-256 key. The chain holds the leaf alone: clients find the CA
// in their roots.
func (ca *CA) Issue(spec CertSpec) (tls.Certificate, error) {
	return ca.mint(spec, false)
}

// SelfSigned mints a leaf certificate like [CA.Issue] but signed by its own
// key; only the CA's clock is used.
func (ca *CA) SelfSigned(spec CertSpec) (tls.Certificate, error) {
	return ca.mint(spec, true)
}

func (ca *CA) mint(spec CertSpec, self bool) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testserver: leaf key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return tls.Certificate{}, err
	}
	t := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: spec.CommonName},
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPAddresses,
		NotBefore:             spec.NotBefore,
		NotAfter:              spec.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = t.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = t.AddDate(5, 0, 0)
	}
	parent, signer := ca.cert, ca.key
	if self {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testserver: leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testserver: leaf certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("testserver: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

package testca

import (
	"crypto/x509"
	"testing"
)

// TestChain: a leaf under an intermediate under a root verifies at Now for
// server authentication, and the zero validity of a Spec is Now ± 5 years.
func TestChain(t *testing.T) {
	root := NewRoot(t, Spec{CN: "Root"})
	inter := root.Intermediate(t, Spec{CN: "Intermediate"})
	leaf, key := inter.Leaf(t, Spec{DNSNames: []string{"mx.example.com"}})
	inters := x509.NewCertPool()
	inters.AddCert(inter.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "mx.example.com", Roots: root.Pool(), Intermediates: inters,
		CurrentTime: Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatal(err)
	}
	if !leaf.NotBefore.Equal(Now().AddDate(-5, 0, 0)) || !leaf.NotAfter.Equal(Now().AddDate(5, 0, 0)) {
		t.Errorf("validity %v to %v, want Now ± 5 years", leaf.NotBefore, leaf.NotAfter)
	}
	if !root.Cert.IsCA || !inter.Cert.IsCA || leaf.IsCA {
		t.Errorf("IsCA root %v, intermediate %v, leaf %v; want true, true, false", root.Cert.IsCA, inter.Cert.IsCA, leaf.IsCA)
	}
	if c := TLSCert(key, leaf, inter.Cert); len(c.Certificate) != 2 || c.Leaf != leaf {
		t.Errorf("TLSCert: %d certificates, leaf %v", len(c.Certificate), c.Leaf == leaf)
	}
}

// TestSelfSigned: a self-signed end-entity certificate is its own issuer
// and no CA.
func TestSelfSigned(t *testing.T) {
	c, _ := SelfSigned(t, Spec{CN: "self"})
	if c.IsCA || c.Issuer.CommonName != "self" {
		t.Errorf("IsCA %v, issuer %q", c.IsCA, c.Issuer.CommonName)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not signed by its own key: %v", err)
	}
}

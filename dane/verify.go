package dane

import (
	"bytes"
	"crypto/x509"
	"time"

	"github.com/mtasts-go/mtasts/validate"
)

// maxChain bounds the certificates of a presented chain that are looked
// at: a server sending more is not helped by them, and a hostile one must
// not cost a signature check per certificate without end.
const maxChain = 16

// Verify checks the certificate chain that the server presented, leaf
// first (as in tls.ConnectionState.PeerCertificates), against the usable
// records of s (RFC 7672 section 3, RFC 7671 section 5):
//
//   - DANE-EE(3): the leaf, or its public key, must match the record.
//     Nothing else is checked: not the names, not the validity period, not
//     the issuer; the DNSSEC signature of the record is what vouches for
//     the key (RFC 7672 section 3.1.1).
//   - DANE-TA(2): a certificate of the chain other than the leaf must match
//     the record, and becomes the trust anchor; a record that holds a whole
//     public key ("2 1 0") or certificate ("2 0 0") is a trust anchor even
//     when the server leaves it out of the chain (RFC 7671 section 5.2.2).
//     The leaf must then chain to a trust anchor as in PKIX (RFC 5280):
//     signatures, CA constraints, name constraints, server-authentication
//     usage, and every certificate from the leaf up to and including the
//     trust anchor's valid at now (the current time if zero): RFC 7672
//     exempts DANE-EE only from the validity check, and a trust anchor
//     that is a key alone has no validity period. Then the leaf must be
//     issued for the TLSA base domain or one of names, the other reference
//     identifiers (RFC 7672 section 3.2.3; see [Options.Names]): its
//     DNS-IDs (subject alternative dNSNames), or, only if it has none, its
//     subject common name, with a wildcard only as the whole left-most
//     label, for exactly one label.
//
// The server is authenticated if one record passes. Verify returns nil or
// a [*validate.Error] naming the RFC 8460 result type: [ErrNoUsableRecords]
// or [ErrNoMatch] (tlsa-invalid); for a DANE-TA trust anchor that matched
// but a chain or name check that failed, validate.ErrExpired
// (certificate-expired), validate.ErrNotTrusted (certificate-not-trusted),
// validate.ErrHostMismatch (certificate-host-mismatch), or
// validate.ErrNotYetValid, validate.ErrKeyUsage, validate.ErrBadCertificate
// (validation-failure); validate.ErrNoCertificate for an empty chain, and
// [ErrInvalidName] for an invalid name in names.
//
// Verify is safe for concurrent use.
func (s *Set) Verify(chain []*x509.Certificate, names []string, now time.Time) error {
	ns := s.names
	if len(names) > 0 {
		var err error
		if ns, err = canonicalNames(s.base, names); err != nil {
			return NewError(s.base, ErrInvalidName, err)
		}
	}
	if now.IsZero() {
		now = time.Now()
	}
	if e := s.verify(chain, ns, now); e != nil {
		return e
	}
	return nil
}

// verify is Verify with the reference identifiers in canonical form, the
// base domain first.
func (s *Set) verify(chain []*x509.Certificate, names []string, now time.Time) *validate.Error {
	if !s.IsUsable() {
		return NewError(s.base, ErrNoUsableRecords, nil)
	}
	if len(chain) == 0 || chain[0] == nil {
		return NewError(s.base, validate.ErrNoCertificate, nil)
	}
	leaf := chain[0]
	for _, r := range s.ee {
		if r.Matches(leaf) {
			return nil
		}
	}
	if len(s.ta) == 0 {
		return NewError(s.base, ErrNoMatch, nil)
	}
	return s.verifyTA(chain, names, now)
}

// verifyTA authenticates chain by the DANE-TA records of s.
func (s *Set) verifyTA(chain []*x509.Certificate, names []string, now time.Time) *validate.Error {
	if len(chain) > maxChain {
		chain = chain[:maxChain]
	}
	var roots *x509.CertPool // made when the first anchor is found
	anchor := func(c *x509.Certificate) {
		if roots == nil {
			roots = x509.NewCertPool()
		}
		roots.AddCert(c)
	}
	for i, c := range chain {
		if i > 0 && c != nil && s.matchTA(c) {
			anchor(c)
		}
	}
	// A key signs at most one certificate of a well-ordered chain: the
	// one just below it. Looking from the top down finds it with the
	// fewest signature checks, and nothing below needs to be anchored too.
	for i := len(chain) - 1; i >= 0 && len(s.taKeys) > 0; i-- {
		if c := chain[i]; c != nil && s.signedByTAKey(c) {
			anchor(c)
			break
		}
	}
	var fromDNS []*x509.Certificate // anchors not in the chain, for the time check
	for _, ta := range s.taCerts {
		if issues(ta, chain) {
			anchor(ta)
			fromDNS = append(fromDNS, ta)
		}
	}
	if roots == nil {
		return NewError(s.base, ErrNoMatch, nil)
	}
	if fault, err := validate.VerifyChain(chain, fromDNS, roots, now); fault != nil {
		return NewError(s.base, fault, err)
	}
	if !matchNames(chain[0], names) {
		return NewError(s.base, validate.ErrHostMismatch, nil)
	}
	return nil
}

// matchTA reports whether c matches a DANE-TA record of s.
func (s *Set) matchTA(c *x509.Certificate) bool {
	for _, r := range s.ta {
		if r.Matches(c) {
			return true
		}
	}
	return false
}

// signedByTAKey reports whether c bears the signature of a trust anchor key
// that a "2 1 0" record holds. Such a c is as good as a trust anchor: the
// key vouches for it as an issuer does. Signatures by SHA-1 or MD5 do not
// count.
func (s *Set) signedByTAKey(c *x509.Certificate) bool {
	if len(s.taKeys) == 0 {
		return false
	}
	switch c.SignatureAlgorithm {
	case x509.UnknownSignatureAlgorithm, x509.MD2WithRSA, x509.MD5WithRSA,
		x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return false
	}
	for _, k := range s.taKeys {
		ta := x509.Certificate{PublicKey: k}
		if ta.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			return true
		}
	}
	return false
}

// issues reports whether ta, a trust anchor certificate from a "2 0 0"
// record, issued a certificate of chain.
func issues(ta *x509.Certificate, chain []*x509.Certificate) bool {
	for _, c := range chain {
		if c != nil && bytes.Equal(c.RawIssuer, ta.RawSubject) && c.CheckSignatureFrom(ta) == nil {
			return true
		}
	}
	return false
}

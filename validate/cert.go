package validate

import (
	"crypto/x509"
	"errors"
	"time"
)

// Certificate checks the certificate chain that an MX host presented,
// leaf first (as in tls.ConnectionState.PeerCertificates), as RFC 8461
// section 4.2 requires:
//
//  1. the leaf must chain to a root of roots (the system pool when roots is
//     nil), using the other certificates of chain as intermediates, with
//     every certificate valid at time now (the current time when now is
//     zero), for server authentication (extended key usage);
//  2. a DNS-ID of the leaf, a dNSName of its subject alternative name
//     extension, must match host. The subject common name is never looked
//     at, even when the certificate has no DNS-ID. A DNS-ID "*.example.com"
//     covers exactly one whole left-most label ("mx.example.com", not
//     "example.com" or "a.mx.example.com"); "*" anywhere else, or as part
//     of a label, matches nothing. Names compare as A-labels, ignoring ASCII
//     case and a trailing dot (RFC 6125 section 6.4; RFC 9525, which
//     obsoletes it, keeps these rules).
//
// Certificate returns nil or an [*Error] wrapping one sentinel error and,
// where there is one, the error of crypto/x509. The result types, in the
// order of the checks:
//
//   - [ErrInvalidHost], [ErrNoCertificate]: validation-failure;
//   - [ErrExpired]: certificate-expired; [ErrNotYetValid]: validation-failure
//     (see its documentation for why);
//   - [ErrNotTrusted]: certificate-not-trusted;
//   - [ErrKeyUsage], [ErrBadCertificate]: validation-failure;
//   - [ErrHostMismatch]: certificate-host-mismatch.
//
// The trust check comes first, as in crypto/tls: a certificate that is both
// untrusted and for another name is reported as untrusted.
//
// Certificate does not check that host matches the policy: see [MX]. It is
// safe for concurrent use.
func Certificate(host string, chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	h, ok := canonicalHost(host)
	if !ok {
		return newError(host, ErrInvalidHost, nil)
	}
	if err := certificate(host, h, chain, roots, now); err != nil {
		return err
	}
	return nil
}

// certificate is Certificate for a host already in canonical form h; host
// is the name as the caller gave it, for the error.
func certificate(host, h string, chain []*x509.Certificate, roots *x509.CertPool, now time.Time) *Error {
	if len(chain) == 0 || chain[0] == nil {
		return newError(host, ErrNoCertificate, nil)
	}
	if now.IsZero() {
		now = time.Now()
	}
	if fault, err := VerifyChain(chain, nil, roots, now); fault != nil {
		return newError(host, fault, err)
	}
	if !matchDNSID(chain[0], h) {
		return newError(host, ErrHostMismatch, nil)
	}
	return nil
}

// VerifyChain verifies, at now, a chain from the leaf chain[0] (not nil),
// through the other certificates of chain, to a certificate of roots, for
// server authentication. On failure it returns fault, the sentinel of this
// package that names what is wrong (ErrExpired, ErrNotYetValid,
// ErrKeyUsage, ErrNotTrusted or ErrBadCertificate), and crypto/x509's
// error. extra are trust anchors found elsewhere than in the chain (as
// DANE-TA records give them): their validity periods too may explain an
// unknown authority. Certificate uses it; so does DANE-TA verification.
func VerifyChain(chain, extra []*x509.Certificate, roots *x509.CertPool, now time.Time) (fault, err error) {
	if err = verifyChain(chain, roots, now); err == nil {
		return nil, nil
	}
	all := chain
	if len(extra) > 0 {
		all = append(chain[:len(chain):len(chain)], extra...)
	}
	return classify(err, all, roots, now), err
}

// verifyChain builds and verifies a chain from the leaf chain[0] to a root
// of roots at time now.
func verifyChain(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	opts := x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(chain) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range chain[1:] {
			if c != nil {
				opts.Intermediates.AddCert(c)
			}
		}
	}
	_, err := chain[0].Verify(opts)
	return err
}

// classify maps an error of x509.Certificate.Verify to a sentinel error.
// all are the certificates whose validity periods may explain an unknown
// authority: the presented chain, then any trust anchors from elsewhere.
func classify(err error, all []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	var sysRoots x509.SystemRootsError
	switch {
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired: // also "not yet valid"
			if invalid.Cert != nil && now.Before(invalid.Cert.NotBefore) {
				return ErrNotYetValid
			}
			return ErrExpired
		case x509.IncompatibleUsage:
			return ErrKeyUsage
		case x509.NotAuthorizedToSign, x509.TooManyIntermediates,
			x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage,
			x509.NameConstraintsWithoutSANs, x509.UnconstrainedName,
			x509.TooManyConstraints, x509.NoValidChains:
			return ErrNotTrusted
		}
		return ErrBadCertificate
	case errors.As(err, &unknown):
		if s := outOfTime(all, roots, now); s != nil {
			return s
		}
		return ErrNotTrusted
	case errors.As(err, &sysRoots):
		// The sender has no roots: not the receiver's fault.
		return ErrBadCertificate
	}
	return ErrBadCertificate
}

// outOfTime tells a certificate that is expired (or not yet valid) from a
// missing one. crypto/x509 checks the leaf's validity period up front, but
// an intermediate or trust anchor outside its period is skipped as a chain
// candidate and the error says "unknown authority". If some certificate of
// all (the leaf first) is outside its period at now, and the chain verifies
// at a time when every certificate of all is inside its own, the only
// fault is time: outOfTime then returns ErrExpired or ErrNotYetValid.
// Otherwise it returns nil. Comparing against a second verification,
// rather than flagging any expired certificate in the chain, keeps a server
// that sends a stale extra certificate next to a good path (as many did
// with an expired cross-signed root) from being blamed for it.
func outOfTime(all []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	var expired, early bool
	var start, end time.Time // the window when all are valid
	for i, c := range all {
		if c == nil {
			continue
		}
		expired = expired || now.After(c.NotAfter)
		early = early || now.Before(c.NotBefore)
		if i == 0 || c.NotBefore.After(start) {
			start = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(end) {
			end = c.NotAfter
		}
	}
	if !expired && !early || start.After(end) {
		return nil
	}
	if verifyChain(all, roots, start) != nil {
		return nil
	}
	if expired {
		return ErrExpired
	}
	return ErrNotYetValid
}

// matchDNSID reports whether a DNS-ID of leaf matches h, a host in
// canonical form. The DNS-IDs come from the peer and are not trusted; h
// has been checked, and matchName needs no more (see there).
func matchDNSID(leaf *x509.Certificate, h string) bool {
	for _, id := range leaf.DNSNames {
		if matchName(trimDot(id), h) {
			return true
		}
	}
	return false
}

package tlsrpt

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs report messages (RFC 8460 section 3: reports sent by mail
// MUST carry a valid DKIM signature of the reporting domain, without
// "l="). The key record published at "<Selector>._domainkey.<Domain>"
// should declare the service type tlsrpt as RFC 8460 asks, and keep
// email with it: "v=DKIM1; k=rsa; s=email:tlsrpt; p=...". Beware a
// record with only "s=tlsrpt": go-msgauth's verifier (and others built
// to RFC 6376, which knows only "email" and "*") refuses it with
// "inappropriate service", so such reports fail verification there.
type DKIM struct {
	// Domain is the signing domain (d=), the reporting domain.
	Domain string
	// Selector is the key's selector (s=).
	Selector string
	// Signer is the private key: an *rsa.PrivateKey (2048 bits or more)
	// or an ed25519.PrivateKey.
	Signer crypto.Signer
}

// SignedHeaders are the header fields a report's signature covers: those
// RFC 8460 section 5.3 asks to include (TLS-Report-Domain and
// TLS-Report-Submitter) and those that make the report what it is.
var SignedHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
	"TLS-Report-Domain", "TLS-Report-Submitter", "TLS-Required",
}

func (k *DKIM) check() error {
	if k.Domain == "" || k.Selector == "" || k.Signer == nil {
		return errors.New("tlsrpt: DKIM needs Domain, Selector and Signer")
	}
	if _, ok := canonDomain(k.Domain); !ok {
		return &DomainError{Name: k.Domain}
	}
	return nil
}

// Sign returns msg with a DKIM-Signature header field prepended
// (relaxed/relaxed canonicalization, SHA-256, the SignedHeaders, no
// "l=").
func (k *DKIM) Sign(msg []byte) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(msg) + 512)
	err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{
		Domain:                 k.Domain,
		Selector:               k.Selector,
		Signer:                 k.Signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             SignedHeaders,
	})
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: DKIM: %w", err)
	}
	return b.Bytes(), nil
}

package dane

import (
	"crypto/tls"
	"time"

	"github.com/mtasts-go/mtasts/validate"
)

// Options configure [VerifyConnection] and [TLSConfig]. The zero value is
// ready to use.
type Options struct {
	// Names are reference identifiers for the name checks of DANE-TA
	// besides the TLSA base domain, which is always one (RFC 7672 section
	// 3.2.3): the MX host name, when a secure CNAME led from it to another
	// base domain; and, if the sender wishes, the next-hop domain (the
	// recipient's domain) and its CNAME expansion. Each must be a host
	// name, in any case, A-labels or U-labels.
	Names []string

	// Clock returns the time at which DANE-TA chains must be valid. If nil,
	// TLSConfig uses the Time of its base configuration, and failing that
	// (and always for VerifyConnection) time.Now.
	Clock func() time.Time

	// Report, if not nil, is called once for every handshake that reaches
	// the certificate check, before the handshake goes on or fails, with
	// the outcome: nil when the server is authenticated, else the
	// [*validate.Error] (validate.ResultOf gives its RFC 8460 result
	// type). It is the one place where an MTA records its TLS-RPT results
	// under DANE. It may be called from several goroutines at once.
	Report func(error)
}

// VerifyConnection returns a function for [tls.Config.VerifyConnection]
// that authenticates an SMTP server by the TLSA records of s, as
// [Set.Verify] describes, and requires TLS 1.2 or later
// (validate.ErrTLSVersion). A failure fails the handshake with the
// [*validate.Error] (errors.As on the error of tls.Conn.Handshake finds
// it): DANE has no testing mode, and a server whose TLSA records do not
// match must not receive the mail (RFC 7672 section 2.2; RFC 8461 section
// 2 forbids MTA-STS to override it).
//
// A Set without usable records is the one exception: TLS is mandatory but
// the server cannot be authenticated (RFC 7672 section 2.2), so the
// handshake goes on and the failure, [ErrNoUsableRecords]
// (tlsa-invalid), is only reported. A nil Set, or an invalid name in
// opts.Names, is a mistake of the caller: every handshake then fails, so
// that it cannot turn into a silent downgrade.
//
// The configuration must set InsecureSkipVerify, so that the TLSA records
// and not the WebPKI decide; [TLSConfig] does that and the rest in one
// call. The names are put in canonical form once, when VerifyConnection is
// called. The returned function is safe for concurrent use.
func VerifyConnection(s *Set, opts Options) func(tls.ConnectionState) error {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	report := opts.Report
	var pre *validate.Error
	var names []string
	switch {
	case s == nil:
		pre = NewError("", ErrNoUsableRecords, nil)
	default:
		var err error
		if names, err = canonicalNames(s.base, opts.Names); err != nil {
			pre = NewError(s.base, ErrInvalidName, err)
		}
	}
	return func(cs tls.ConnectionState) error {
		var e *validate.Error
		unauthenticated := false
		switch {
		case pre != nil:
			e = pre
		case cs.Version < tls.VersionTLS12:
			e = NewError(s.base, validate.ErrTLSVersion, nil)
		case !s.IsUsable():
			e, unauthenticated = NewError(s.base, ErrNoUsableRecords, nil), true
		default:
			e = s.verify(cs.PeerCertificates, names, clock())
		}
		var err error
		if e != nil {
			err = e
		}
		if report != nil {
			report(err)
		}
		if unauthenticated {
			return nil // TLS without authentication, as RFC 7672 section 2.2 asks
		}
		return err
	}
}

// TLSConfig returns the configuration for a STARTTLS connection to the
// SMTP server whose TLSA records are s: a clone of base (an empty
// configuration if base is nil) with
//
//   - ServerName set to the TLSA base domain, the name a DANE client sends
//     in SNI (RFC 7671 section 7);
//   - MinVersion raised to TLS 1.2 at least;
//   - InsecureSkipVerify set, and VerifyConnection authenticating the
//     server as [VerifyConnection] describes: a failure fails the
//     handshake.
//
// An unset opts.Clock defaults to base's Time. A VerifyConnection of base
// still runs, after the DANE check has passed; VerifyPeerCertificate, if
// base sets it, runs as usual, with no verified chains. RootCAs is not
// used: under DANE the TLSA records, not the WebPKI, say whom to trust
// (RFC 8461 section 2: MTA-STS must not override a failing DANE check).
func TLSConfig(s *Set, base *tls.Config, opts Options) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = new(tls.Config)
	}
	if s != nil {
		c.ServerName = s.base
	}
	if opts.Clock == nil {
		opts.Clock = c.Time
	}
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	c.InsecureSkipVerify = true
	verify := VerifyConnection(s, opts)
	if next := c.VerifyConnection; next != nil {
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verify(cs); err != nil {
				return err
			}
			return next(cs)
		}
	} else {
		c.VerifyConnection = verify
	}
	return c
}

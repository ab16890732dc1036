package validate

import (
	"crypto/tls"
	"crypto/x509"
	"time"

	"github.com/mtasts-go/mtasts/policy"
)

// Options configure [VerifyConnection] and [TLSConfig]. The zero value is
// ready to use.
type Options struct {
	// Roots are the trusted root certificates. If nil, TLSConfig uses the
	// RootCAs of its base configuration, and failing that (and always for
	// VerifyConnection) the system pool.
	Roots *x509.CertPool

	// Clock returns the time at which certificates must be valid. If nil,
	// TLSConfig uses the Time of its base configuration, and failing that
	// (and always for VerifyConnection) time.Now.
	Clock func() time.Time

	// Report, if not nil, is called once for every handshake verified
	// under a testing or enforce policy, with the outcome: nil when the
	// connection complies with the policy, otherwise the [*Error] (see
	// [ResultOf] for its TLS-RPT result type). It is called under both
	// modes, before the handshake goes on (testing) or fails (enforce), so
	// that it is the one place where an MTA records its TLS-RPT results. It
	// is not called under mode none, nor for a handshake that fails before
	// the certificate is seen. It may be called from several goroutines at
	// once if the configuration is used for several connections.
	Report func(error)
}

// effectiveMode is the mode to apply for p: none for no policy, enforce for
// a policy whose mode is not valid (a zero Policy, a bug in the caller), so
// that a mistake fails closed instead of turning into a silent downgrade.
func effectiveMode(p *policy.Policy) policy.Mode {
	switch {
	case p == nil:
		return policy.ModeNone
	case p.Mode.Valid():
		return p.Mode
	}
	return policy.ModeEnforce
}

// VerifyConnection returns a function for [tls.Config.VerifyConnection]
// that validates a connection to the MX host host under policy p (RFC 8461
// section 4): the host must match an mx pattern of p ([MX]), the
// connection must use TLS 1.2 or later ([ErrTLSVersion]), and the server's
// certificate must be valid for host ([Certificate], with opts.Roots and
// opts.Clock).
//
// The configuration must set InsecureSkipVerify, so that the policy and
// not the default verifier decides; [TLSConfig] does all of that in one
// call. Under mode enforce (or an invalid mode, which is treated as
// enforce) the function returns the [*Error], and the handshake fails with
// it: errors.As on the error of tls.Conn.Handshake finds it. Under mode
// testing it returns nil: the connection proceeds, and the failure reaches
// the caller through opts.Report only. Under mode none, or with a nil
// policy, it checks nothing and reports nothing.
//
// The host match is computed once, when VerifyConnection is called; each
// handshake then checks only the version and the certificate. The returned
// function is safe for concurrent use.
func VerifyConnection(p *policy.Policy, host string, opts Options) func(tls.ConnectionState) error {
	mode := effectiveMode(p)
	if mode == policy.ModeNone {
		return func(tls.ConnectionState) error { return nil }
	}
	v := &verifier{host: host, roots: opts.Roots, clock: opts.Clock}
	if v.clock == nil {
		v.clock = time.Now
	}
	var ok bool
	if v.h, ok = canonicalHost(host); !ok {
		v.pre = newError(host, ErrInvalidHost, nil)
	} else if !allowsASCII(p, v.h) {
		v.pre = newError(host, ErrMXMismatch, nil)
	}
	report, testing := opts.Report, mode == policy.ModeTesting
	return func(cs tls.ConnectionState) error {
		var err error
		if e := v.check(&cs); e != nil {
			err = e
		}
		if report != nil {
			report(err)
		}
		if testing {
			return nil
		}
		return err
	}
}

// verifier holds what VerifyConnection computes once per host.
type verifier struct {
	host  string // as given
	h     string // canonical
	pre   *Error // the host's own failure, if any
	roots *x509.CertPool
	clock func() time.Time
}

func (v *verifier) check(cs *tls.ConnectionState) *Error {
	if v.pre != nil {
		return v.pre
	}
	if cs.Version < tls.VersionTLS12 {
		return newError(v.host, ErrTLSVersion, nil)
	}
	return certificate(v.host, v.h, cs.PeerCertificates, v.roots, v.clock())
}

// TLSConfig returns the configuration for a STARTTLS connection to the MX
// host host of a domain with policy p (nil for no policy): a clone of base
// (an empty configuration if base is nil), with ServerName set to host in
// canonical form (A-labels, lower case, no trailing dot), which is the name
// that RFC 8461 section 7.1 requires in SNI. Then, by mode:
//
//   - none, or no policy: nothing else changes. The connection is
//     opportunistic TLS, verified or not as base says.
//   - testing: InsecureSkipVerify is set and VerifyConnection validates
//     the connection as [VerifyConnection] describes, reporting through
//     opts.Report and never failing the handshake. MinVersion becomes TLS
//     1.2 if base leaves it unset, but a lower version that base asks for
//     explicitly is kept: a testing policy must not stop delivery, so an
//     old server is reported ([ErrTLSVersion]) rather than refused.
//   - enforce: as testing, but MinVersion is raised to TLS 1.2 at least
//     and a failure fails the handshake with the [*Error].
//
// The configuration checks both that host matches the policy and that the
// certificate is valid for host, so it is all an MTA needs for one MX
// host. An MTA may still call [Allows] first, to skip a host that cannot
// pass under enforce without connecting to it.
//
// Unset opts.Roots and opts.Clock default to base's RootCAs and Time. A
// VerifyConnection of base still runs, after the policy's check has
// passed (or under testing, after it has reported); VerifyPeerCertificate,
// if base sets it, runs as usual, with no verified chains.
func TLSConfig(p *policy.Policy, host string, base *tls.Config, opts Options) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = new(tls.Config)
	}
	if h, ok := canonicalHost(host); ok {
		c.ServerName = h
	} else {
		c.ServerName = trimDot(host) // VerifyConnection fails it below
	}
	mode := effectiveMode(p)
	if mode == policy.ModeNone {
		return c
	}
	if opts.Roots == nil {
		opts.Roots = c.RootCAs
	}
	if opts.Clock == nil {
		opts.Clock = c.Time
	}
	if mode == policy.ModeEnforce {
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	} else if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	c.InsecureSkipVerify = true
	verify := VerifyConnection(p, host, opts)
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

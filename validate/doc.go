// Package validate answers the question at the heart of MTA-STS (RFC 8461
// section 4): may a message for a domain be delivered to this MX host, with
// this certificate? It also names the outcomes, in the vocabulary of
// TLS-RPT (RFC 8460).
//
// An MX host is valid under a policy when two checks pass:
//
//   - the host name matches one of the policy's mx patterns: [MatchMX] for
//     one pattern, [Allows] for a policy, [MX] for a typed error;
//   - the server offers STARTTLS and a PKIX certificate that chains to a
//     trusted root, is valid now, and names the host in a DNS-ID (never in
//     the common name): [Certificate].
//
// Names compare by the rules of RFC 6125 section 6.4 (and RFC 9525),
// restricted by RFC 8461: case-insensitive ASCII, in A-labels (a host
// given in U-labels is converted with golang.org/x/net/idna), a trailing
// dot ignored, and a wildcard only as the whole left-most label, standing
// for exactly one label.
//
// For the connection itself, [TLSConfig] turns a base *tls.Config, a
// policy and an MX host name into the configuration for that host in one
// call: the right SNI, TLS 1.2 or later, and a VerifyConnection hook (see
// [VerifyConnection]) that applies the mode. What the mode changes is only
// the action; validation always runs in full and is reported through
// [Options.Report]:
//
//	mode      failure
//	enforce   the handshake fails with the *Error
//	testing   the handshake succeeds; the *Error is reported
//	none      nothing is checked (opportunistic TLS, as the base config says)
//
// Every failure is an [*Error] whose Result is the one [ResultType] that
// RFC 8460 section 4.3 registers for it; it wraps a sentinel error (test
// with [errors.Is]) and the error of crypto/x509 behind it, if any. The
// [ResultType] constants are the only spelling of the registry in the
// library: the resolver and tlsrpt packages use them too.
//
// Matching an ASCII host takes a few nanoseconds and never allocates. All
// functions are safe for concurrent use. The package does no I/O.
package validate

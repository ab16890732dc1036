// Package dane authenticates SMTP servers by DNSSEC-validated TLSA records:
// DANE for SMTP (RFC 7672), with the operational rules of RFC 7671 and the
// record format of RFC 6698.
//
// A TLSA record is a [Record]: [Parse] reads the presentation form
// ("3 1 1 0C72AC70..."), [FromRR] a record of github.com/miekg/dns, and
// [Record.String] writes the form that TLS-RPT reports carry (RFC 8460
// section 4.5).
//
// The records found at an MX host's TLSA base domain make a [Set]
// ([NewSet]), which keeps the usable ones (RFC 7672 section 3.1):
//
//	usage       DANE-TA(2), DANE-EE(3); PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP
//	selector    Cert(0), SPKI(1)
//	matching    Full(0), SHA2-256(1), SHA2-512(2)
//
// A record with another value, or with data of the wrong length, is
// ignored, and so is a digest weaker than another of the same usage and
// selector (digest algorithm agility, RFC 7671 section 9): [Set.Ignored]
// says why.
//
// [Set.Verify] checks a server's certificate chain against a Set:
// DANE-EE(3) matches the leaf and checks neither its names nor its
// validity period; DANE-TA(2) needs a chain from the leaf to a matching
// trust anchor, valid now, and a leaf issued for the TLSA base domain or
// another reference identifier ([Options.Names]). [TLSConfig] turns a base
// *tls.Config and a Set into the configuration of one STARTTLS connection:
// SNI is the TLSA base domain, TLS 1.2 or later, and a VerifyConnection
// hook ([VerifyConnection]) that fails the handshake unless the server is
// authenticated.
//
// Failures are [*validate.Error] values, as those of MTA-STS validation
// are, so that one call, validate.ResultOf, gives the RFC 8460 result type
// of any failed handshake: tlsa-invalid for records that match nothing,
// certificate-expired, certificate-host-mismatch and
// certificate-not-trusted where a DANE-TA check fails as PKIX would, and
// dnssec-invalid and dane-required for the lookups of a resolver
// ([NewError]).
//
// The package does no DNS lookups: whether the records are DNSSEC-secure,
// and whether DANE applies to an MX host at all, is for the caller (the
// resolver package) to decide. It is safe for concurrent use and does no
// I/O.
package dane

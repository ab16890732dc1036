package mtaststest

import "github.com/mtasts-go/mtasts/internal/testserver"

// A Fault is something that goes wrong for one name of the world, set with
// World.Fault. The concrete types below say which server it affects:
//
//   - DNS queries for the name: DNSFault, Rcode, DNSDelay, and any of them
//     for one query type with OnlyType;
//   - HTTPS requests for the name (a policy host mta-sts.<domain>): Status,
//     Redirect, ContentType, LargeBody, SlowHeaders, Trickle, GzipBomb,
//     HTTPFault;
//   - TLS handshakes whose SNI is the name, over HTTPS or SMTP STARTTLS:
//     TLSFault, CertFault;
//   - SMTP sessions on the MX host of the name: SMTPFault.
//
// Slow faults end when the world closes.
type Fault = testserver.Fault

// DNSFault is a DNS answer gone wrong.
type DNSFault = testserver.DNSFault

// The DNS faults.
const (
	ServFail  = testserver.ServFail  // answers SERVFAIL
	Refused   = testserver.Refused   // answers REFUSED
	NXDomain  = testserver.NXDomain  // answers NXDOMAIN, even when the name has records
	NoData    = testserver.NoData    // answers NOERROR with no records
	Drop      = testserver.Drop      // never answers: the client times out
	Truncate  = testserver.Truncate  // truncates UDP answers: the client must retry over TCP
	CNAMEOnly = testserver.CNAMEOnly // answers for an alias with its CNAME alone
)

// Rcode answers every query with this response code (a dns.Rcode* value)
// and no records.
type Rcode = testserver.Rcode

// DNSDelay delays every answer by the duration.
type DNSDelay = testserver.DNSDelay

// OnlyType restricts a DNS fault to the queries of one type (a dns.Type*
// value): OnlyType{Type: dns.TypeAAAA, Fault: ServFail}.
type OnlyType = testserver.OnlyType

// Status answers every HTTPS request with this status code.
type Status = testserver.Status

// Redirect answers every HTTPS request with a redirect to Location, which
// MTA-STS forbids following.
type Redirect = testserver.Redirect

// ContentType replaces the Content-Type of the policy file (normally
// text/plain); the empty ContentType removes the header.
type ContentType = testserver.ContentType

// LargeBody serves a policy file padded to this many bytes.
type LargeBody = testserver.LargeBody

// SlowHeaders waits this long before sending the response headers.
type SlowHeaders = testserver.SlowHeaders

// Trickle sends the body one byte at a time, with this pause before each.
type Trickle = testserver.Trickle

// GzipBomb serves a gzip body that inflates to this many bytes.
type GzipBomb = testserver.GzipBomb

// HTTPFault is an HTTPS connection gone wrong.
type HTTPFault = testserver.HTTPFault

// ConnReset reads the request and resets the connection.
const ConnReset = testserver.ConnReset

// TLSFault is a TLS handshake gone wrong, for HTTPS and SMTP STARTTLS.
type TLSFault = testserver.TLSFault

// The TLS faults.
const (
	LegacyTLS      = testserver.LegacyTLS      // offers only TLS 1.0 and 1.1
	HandshakeStall = testserver.HandshakeStall // never answers the ClientHello
)

// CertFault makes the certificate presented for the name a bad one.
type CertFault = testserver.CertFault

// The certificate faults.
const (
	CertExpired     = testserver.CertExpired     // expired a day ago
	CertNotYetValid = testserver.CertNotYetValid // valid from tomorrow on
	CertWrongHost   = testserver.CertWrongHost   // valid for wrong-host.invalid only
	CertCNOnly      = testserver.CertCNOnly      // names the host in its common name only
	CertUntrusted   = testserver.CertUntrusted   // issued by an authority the world's clients do not trust
	CertSelfSigned  = testserver.CertSelfSigned  // signed by its own key
	CertWildcard    = testserver.CertWildcard    // a valid wildcard certificate, *.<parent>
)

// SMTPFault is an SMTP server gone wrong.
type SMTPFault = testserver.SMTPFault

// The SMTP faults.
const (
	NoSTARTTLS      = testserver.NoSTARTTLS      // STARTTLS is not offered, and refused with 502
	STARTTLSRefused = testserver.STARTTLSRefused // STARTTLS is offered but answered with 454
)

package testserver

import (
	"fmt"
	"net/http"
	"time"
)

// A Fault is something that goes wrong for one name of the world. Faults are
// set with [World.Fault]; the concrete types below say which server they
// affect:
//
//   - DNS queries for the name: [DNSFault], [Rcode], [DNSDelay], and any of
//     them for one query type with [OnlyType];
//   - HTTPS requests whose Host is the name: [Status], [Redirect],
//     [ContentType], [LargeBody], [SlowHeaders], [Trickle], [GzipBomb],
//     [HTTPFault];
//   - TLS handshakes (HTTPS and SMTP STARTTLS) whose SNI is the name, or
//     without SNI on the SMTP listener of the name: [TLSFault], [CertFault];
//   - SMTP sessions on the listener of the name: [SMTPFault].
//
// Every slow fault ends when the world closes.
type Fault interface {
	layer() layer
}

type layer uint8

const (
	layerDNS layer = iota
	layerHTTP
	layerTLS
	layerSMTP
)

// DNSFault is a DNS answer gone wrong.
type DNSFault int

const (
	// ServFail answers SERVFAIL.
	ServFail DNSFault = iota + 1
	// Refused answers REFUSED.
	Refused
	// NXDomain answers NXDOMAIN, even when the name has records.
	NXDomain
	// NoData answers NOERROR with an empty answer section.
	NoData
	// Drop never answers (over TCP the connection stays open): the client
	// times out.
	Drop
	// Truncate answers over UDP with the TC bit set and no records, forcing
	// the client to retry over TCP, where the full answer is given.
	Truncate
	// CNAMEOnly answers a query for an alias with its CNAME record alone,
	// as a server not authoritative for the target does, leaving the chain
	// (or loop) to the client.
	CNAMEOnly
	// Referral answers NOERROR with an empty answer section and NS
	// records in the authority section, not authoritative and without
	// recursion available: the answer of a server that delegates the name
	// and will not resolve it. It says nothing of whether records exist.
	Referral
	// Lame answers NOERROR with nothing at all, not authoritative and
	// without recursion available: a lame delegation.
	Lame
)

func (DNSFault) layer() layer { return layerDNS }

// String returns the name of the fault constant.
func (f DNSFault) String() string {
	switch f {
	case ServFail:
		return "ServFail"
	case Refused:
		return "Refused"
	case NXDomain:
		return "NXDomain"
	case NoData:
		return "NoData"
	case Drop:
		return "Drop"
	case Truncate:
		return "Truncate"
	case CNAMEOnly:
		return "CNAMEOnly"
	case Referral:
		return "Referral"
	case Lame:
		return "Lame"
	}
	return fmt.Sprintf("DNSFault(%d)", int(f))
}

// Rcode answers every query with this response code (a dns.Rcode* value)
// and no records.
type Rcode int

func (Rcode) layer() layer { return layerDNS }

// DNSDelay delays every answer by the duration; the other faults of the
// name apply after it.
type DNSDelay time.Duration

func (DNSDelay) layer() layer { return layerDNS }

// OnlyType restricts Fault, a DNS fault, to the queries of type Type (a
// dns.Type* value): OnlyType{dns.TypeAAAA, ServFail} breaks AAAA lookups of
// a name whose A lookups still work.
type OnlyType struct {
	Type  uint16
	Fault Fault
}

func (OnlyType) layer() layer { return layerDNS }

// Status answers every HTTPS request with this status code. The body is still
// the policy file when there is one, so a client that ignores the status
// would accept it.
type Status int

func (Status) layer() layer { return layerHTTP }

// Redirect answers every HTTPS request with a redirect (Code is 301, 302,
// 307 or 308) to Location, an absolute URL.
type Redirect struct {
	Code     int
	Location string
}

func (Redirect) layer() layer { return layerHTTP }

// ContentType replaces the Content-Type header of the policy file (normally
// "text/plain"); the empty ContentType removes the header.
type ContentType string

func (ContentType) layer() layer { return layerHTTP }

// LargeBody serves a body of this many bytes: the policy file padded with
// extension lines.
type LargeBody int

func (LargeBody) layer() layer { return layerHTTP }

// SlowHeaders waits this long before sending the response headers. A wait
// cut short, because the client went away (even half-way, with a TLS
// close_notify) or the world closed, ends in a closed connection, never in
// a response.
type SlowHeaders time.Duration

func (SlowHeaders) layer() layer { return layerHTTP }

// Trickle sends the body one byte at a time, with this pause before each
// byte. A pause cut short, as for [SlowHeaders], closes the connection
// with the body unfinished.
type Trickle time.Duration

func (Trickle) layer() layer { return layerHTTP }

// GzipBomb serves, with Content-Encoding: gzip, a compressed body that
// inflates to this many bytes (the policy file followed by zero bytes).
type GzipBomb int64

func (GzipBomb) layer() layer { return layerHTTP }

// HTTPFault is an HTTPS connection gone wrong.
type HTTPFault int

const (
	// ConnReset reads the request and then resets the TCP connection (RST)
	// without answering.
	ConnReset HTTPFault = iota + 1
)

func (HTTPFault) layer() layer { return layerHTTP }

// abort ends an HTTP handler whose slow fault was cut short. Returning
// instead would let net/http finish the response: an empty 200 without
// headers when none were sent, which a client racing its own deadline can
// still read and take for the server's answer. The panic value
// http.ErrAbortHandler makes net/http close the connection unanswered and
// without logging.
func abort() {
	panic(http.ErrAbortHandler)
}

// String returns the name of the fault constant.
func (f HTTPFault) String() string {
	if f == ConnReset {
		return "ConnReset"
	}
	return fmt.Sprintf("HTTPFault(%d)", int(f))
}

// TLSFault is a TLS handshake gone wrong, for HTTPS and for SMTP STARTTLS.
type TLSFault int

const (
	// LegacyTLS offers only TLS 1.0 and 1.1.
	LegacyTLS TLSFault = iota + 1
	// HandshakeStall reads the ClientHello and never answers it, until the
	// world closes (or a minute has passed).
	HandshakeStall
)

func (TLSFault) layer() layer { return layerTLS }

// String returns the name of the fault constant.
func (f TLSFault) String() string {
	switch f {
	case LegacyTLS:
		return "LegacyTLS"
	case HandshakeStall:
		return "HandshakeStall"
	}
	return fmt.Sprintf("TLSFault(%d)", int(f))
}

// CertFault makes the certificate presented for the name a bad one.
type CertFault int

const (
	// CertExpired is valid for the name but expired a day ago.
	CertExpired CertFault = iota + 1
	// CertNotYetValid is valid for the name from tomorrow on.
	CertNotYetValid
	// CertWrongHost is valid, but for the name wrong-host.invalid only.
	CertWrongHost
	// CertCNOnly names the host in its subject common name only, with no
	// subject alternative name.
	CertCNOnly
	// CertUntrusted is valid for the name but issued by a second CA that is
	// not in [World.RootCAs].
	CertUntrusted
	// CertSelfSigned is valid for the name but signed by its own key.
	CertSelfSigned
	// CertWildcard names only *.<parent>, where <parent> is the name less its
	// first label: a valid certificate for the name, by wildcard.
	CertWildcard
)

func (CertFault) layer() layer { return layerTLS }

var certFaultNames = [...]string{"", "CertExpired", "CertNotYetValid", "CertWrongHost", "CertCNOnly", "CertUntrusted", "CertSelfSigned", "CertWildcard"}

// String returns the name of the fault constant.
func (f CertFault) String() string {
	if f > 0 && int(f) < len(certFaultNames) {
		return certFaultNames[f]
	}
	return fmt.Sprintf("CertFault(%d)", int(f))
}

// SMTPFault is an SMTP server gone wrong.
type SMTPFault int

const (
	// NoSTARTTLS does not offer STARTTLS in the EHLO reply and rejects the
	// command with 502.
	NoSTARTTLS SMTPFault = iota + 1
	// STARTTLSRefused offers STARTTLS but answers the command with 454.
	STARTTLSRefused
)

func (SMTPFault) layer() layer { return layerSMTP }

// String returns the name of the fault constant.
func (f SMTPFault) String() string {
	switch f {
	case NoSTARTTLS:
		return "NoSTARTTLS"
	case STARTTLSRefused:
		return "STARTTLSRefused"
	}
	return fmt.Sprintf("SMTPFault(%d)", int(f))
}

// Fault replaces the faults of name (a DNS name or host name, case and
// trailing dot ignored) with faults; with none, name works again. Faults of
// one kind that contradict each other (two Status values) resolve to the
// last one given.
func (w *World) Fault(name string, faults ...Fault) {
	name = canon(name)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(faults) == 0 {
		delete(w.faults, name)
		return
	}
	w.faults[name] = append([]Fault(nil), faults...)
}

// ClearFaults removes the faults of every name.
func (w *World) ClearFaults() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.faults)
}

// faultsOf returns the faults of name at layer l. The caller holds w.mu.
func (w *World) faultsOf(name string, l layer) []Fault {
	var out []Fault
	for _, f := range w.faults[name] {
		if f != nil && f.layer() == l {
			out = append(out, f)
		}
	}
	return out
}

// faultsFor is faultsOf taking the lock.
func (w *World) faultsFor(name string, l layer) []Fault {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.faultsOf(name, l)
}

package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/miekg/dns"
)

// Usage is the certificate usage field of a TLSA record (RFC 6698 section
// 2.1.1), with the names of RFC 7218.
type Usage uint8

// The certificate usages. SMTP uses only DANE-TA and DANE-EE (RFC 7672
// section 3.1.3); the PKIX usages are unusable there.
const (
	PKIXTA Usage = 0 // PKIX-TA: a CA of the public PKI, plus PKIX validation
	PKIXEE Usage = 1 // PKIX-EE: the end entity, plus PKIX validation
	DANETA Usage = 2 // DANE-TA: a trust anchor of the domain's own choosing
	DANEEE Usage = 3 // DANE-EE: the server's own certificate or key
)

// String returns the name of RFC 7218 and the number, as "DANE-EE(3)".
func (u Usage) String() string {
	switch u {
	case PKIXTA:
		return "PKIX-TA(0)"
	case PKIXEE:
		return "PKIX-EE(1)"
	case DANETA:
		return "DANE-TA(2)"
	case DANEEE:
		return "DANE-EE(3)"
	}
	return "usage(" + strconv.Itoa(int(u)) + ")"
}

// Selector is the selector field of a TLSA record (RFC 6698 section 2.1.2):
// which part of a certificate the record matches.
type Selector uint8

// The selectors.
const (
	Cert Selector = 0 // Cert: the whole certificate, DER-encoded
	SPKI Selector = 1 // SPKI: the SubjectPublicKeyInfo, DER-encoded
)

// String returns the name of RFC 7218 and the number, as "SPKI(1)".
func (s Selector) String() string {
	switch s {
	case Cert:
		return "Cert(0)"
	case SPKI:
		return "SPKI(1)"
	}
	return "selector(" + strconv.Itoa(int(s)) + ")"
}

// MatchingType is the matching type field of a TLSA record (RFC 6698
// section 2.1.3): how the selected data is presented.
type MatchingType uint8

// The matching types.
const (
	Full   MatchingType = 0 // Full: the selected data itself
	SHA256 MatchingType = 1 // SHA2-256: its SHA-256 digest, 32 bytes
	SHA512 MatchingType = 2 // SHA2-512: its SHA-512 digest, 64 bytes
)

// String returns the name of RFC 7218 and the number, as "SHA2-256(1)".
func (m MatchingType) String() string {
	switch m {
	case Full:
		return "Full(0)"
	case SHA256:
		return "SHA2-256(1)"
	case SHA512:
		return "SHA2-512(2)"
	}
	return "matching(" + strconv.Itoa(int(m)) + ")"
}

// Why a record is unusable for SMTP. [Record.Check] returns one of them;
// [Set.Ignored] gives them, and [ErrWeakerDigest], per record.
var (
	// ErrPKIXUsage: PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC
	// 7672 section 3.1.3): an MTA has no common set of trusted CAs.
	ErrPKIXUsage = errors.New("pkix usage unusable for smtp")
	// ErrUnknownUsage: a certificate usage other than 0 to 3.
	ErrUnknownUsage = errors.New("unknown certificate usage")
	// ErrUnknownSelector: a selector other than 0 and 1.
	ErrUnknownSelector = errors.New("unknown selector")
	// ErrUnknownMatchingType: a matching type other than 0, 1 and 2.
	ErrUnknownMatchingType = errors.New("unknown matching type")
	// ErrDataLength: data of the wrong length for its digest (SHA-256 is
	// 32 bytes, SHA-512 64), or none at all.
	ErrDataLength = errors.New("association data of wrong length")
	// ErrMalformedData: data of matching type Full(0) that is not one DER
	// certificate (selector Cert) or SubjectPublicKeyInfo (selector SPKI).
	ErrMalformedData = errors.New("association data malformed")
	// ErrWeakerDigest: the RRset has a record of the same usage and
	// selector with a stronger digest, so this one is ignored (digest
	// algorithm agility, RFC 7671 section 9).
	ErrWeakerDigest = errors.New("weaker digest than another record")
)

// Record is one TLSA record (RFC 6698 section 2.1): its three parameters
// and the certificate association data. The zero Record is "0 0 0" with no
// data, which is unusable.
type Record struct {
	Usage        Usage        // DANE-TA(2) and DANE-EE(3) are usable for SMTP
	Selector     Selector     // the full certificate (0) or its SubjectPublicKeyInfo (1)
	MatchingType MatchingType // Data is the selected bytes (0), their SHA-256 (1) or SHA-512 (2)
	Data         []byte       // the certificate association data
}

// FromRR returns the record of rr, whose Certificate field holds the data
// in hexadecimal. It fails only if that field is not hexadecimal, which
// never happens to a record read off the wire.
func FromRR(rr *dns.TLSA) (Record, error) {
	if rr == nil {
		return Record{}, &SyntaxError{Reason: "nil record"}
	}
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		return Record{}, &SyntaxError{Text: rr.Certificate, Reason: "association data not hexadecimal"}
	}
	return Record{Usage: Usage(rr.Usage), Selector: Selector(rr.Selector),
		MatchingType: MatchingType(rr.MatchingType), Data: data}, nil
}

// RR returns r as a TLSA resource record owned by name (such as
// "_25._tcp.mx.example.com."), with time to live ttl.
func (r Record) RR(name string, ttl uint32) *dns.TLSA {
	return &dns.TLSA{
		Hdr:          dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: ttl},
		Usage:        uint8(r.Usage),
		Selector:     uint8(r.Selector),
		MatchingType: uint8(r.MatchingType),
		Certificate:  hex.EncodeToString(r.Data),
	}
}

// String returns r in presentation form (RFC 6698 section 2.2) as RFC 8460
// section 4.5 wants it in a report's policy-string: the three numbers and
// the data in upper-case hexadecimal, separated by single spaces, with no
// space inside the data and no parentheses: "3 1 1 1F850A33...". A record
// without data ends after the matching type.
func (r Record) String() string {
	b := make([]byte, 0, 12+2*len(r.Data))
	b = strconv.AppendUint(b, uint64(r.Usage), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.Selector), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.MatchingType), 10)
	if len(r.Data) > 0 {
		b = append(b, ' ')
		const digits = "0123456789ABCDEF"
		for _, c := range r.Data {
			b = append(b, digits[c>>4], digits[c&0xf])
		}
	}
	return string(b)
}

// Equal reports whether r and o are the same record.
func (r Record) Equal(o Record) bool {
	return r.Usage == o.Usage && r.Selector == o.Selector && r.MatchingType == o.MatchingType &&
		string(r.Data) == string(o.Data)
}

// Check reports whether r is usable for SMTP on its own (RFC 7672 section
// 3.1): nil for DANE-TA(2) or DANE-EE(3), selector Cert(0) or SPKI(1),
// matching type Full(0), SHA2-256(1) or SHA2-512(2), with data of the
// right length (and, for Full(0), a well-formed DER certificate or
// SubjectPublicKeyInfo). Otherwise it returns the first reason, in that
// order: [ErrPKIXUsage], [ErrUnknownUsage], [ErrUnknownSelector],
// [ErrUnknownMatchingType], [ErrDataLength], [ErrMalformedData].
//
// Whether a usable record is also used depends on the other records of
// its RRset: see [NewSet].
func (r Record) Check() error {
	switch r.Usage {
	case DANETA, DANEEE:
	case PKIXTA, PKIXEE:
		return ErrPKIXUsage
	default:
		return ErrUnknownUsage
	}
	if r.Selector > SPKI {
		return ErrUnknownSelector
	}
	switch r.MatchingType {
	case SHA256:
		if len(r.Data) != sha256.Size {
			return ErrDataLength
		}
	case SHA512:
		if len(r.Data) != sha512.Size {
			return ErrDataLength
		}
	case Full:
		if len(r.Data) == 0 {
			return ErrDataLength
		}
		if !wellFormed(r.Selector, r.Data) {
			return ErrMalformedData
		}
	default:
		return ErrUnknownMatchingType
	}
	return nil
}

// wellFormed reports whether data is one DER certificate (sel Cert) or
// SubjectPublicKeyInfo (sel SPKI), with nothing after it. A key of an
// algorithm that crypto/x509 does not know is still well-formed: it can be
// compared, if not used to check a signature.
func wellFormed(sel Selector, data []byte) bool {
	if sel == Cert {
		_, err := x509.ParseCertificate(data)
		return err == nil
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(data, &spki)
	return err == nil && len(rest) == 0
}

// Matches reports whether r's data matches cert by r's selector and
// matching type, whatever r's usage: the certificate (or its public key)
// is the one, or has the digest, that r holds. A record of an unknown
// selector or matching type matches nothing. It does not allocate.
func (r Record) Matches(cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	return matchData(r.Selector, r.MatchingType, r.Data, cert)
}

func matchData(sel Selector, mt MatchingType, data []byte, cert *x509.Certificate) bool {
	var in []byte
	switch sel {
	case Cert:
		in = cert.Raw
	case SPKI:
		in = cert.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch mt {
	case Full:
		return bytes.Equal(in, data)
	case SHA256:
		sum := sha256.Sum256(in)
		return bytes.Equal(sum[:], data)
	case SHA512:
		sum := sha512.Sum512(in)
		return bytes.Equal(sum[:], data)
	}
	return false
}

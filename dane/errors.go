package dane

import (
	"errors"

	"github.com/mtasts-go/mtasts/validate"
)

// Sentinel errors of DANE failures. A failed verification is a
// [*validate.Error], the one error type of the library for a failed
// handshake, whose Result is the RFC 8460 result type given in brackets and
// which wraps one sentinel error: one of these, or one of package validate
// where the failure is the same as under MTA-STS (validate.ErrNoCertificate,
// validate.ErrTLSVersion, and for DANE-TA validate.ErrHostMismatch,
// validate.ErrExpired, validate.ErrNotYetValid, validate.ErrNotTrusted,
// validate.ErrKeyUsage, validate.ErrBadCertificate). validate.ResultOf
// gives the result type of any of them.
var (
	// ErrNoUsableRecords: the RRset has no usable record [tlsa-invalid].
	// TLS is still mandatory (RFC 7672 section 2.2), but the server cannot
	// be authenticated.
	ErrNoUsableRecords = errors.New("no usable tlsa records")
	// ErrNoMatch: the server's chain matches no usable record: neither the
	// leaf a DANE-EE record, nor an issuer (or a key that signed the
	// chain) a DANE-TA record [tlsa-invalid].
	ErrNoMatch = errors.New("certificate matches no tlsa record")
	// ErrDNSSECInvalid: the TLSA lookup (or that of the MX host's
	// addresses) failed DNSSEC validation: a validating resolver answered
	// SERVFAIL [dnssec-invalid]. For resolvers that look up TLSA records.
	ErrDNSSECInvalid = errors.New("tlsa lookup failed dnssec validation")
	// ErrDANERequired: the sender requires DANE for the destination, and
	// the MX host has no DNSSEC-validated TLSA records [dane-required]. For
	// resolvers with mandatory DANE (RFC 7672 section 6).
	ErrDANERequired = errors.New("dane required but no secure tlsa records")
	// ErrInvalidName: a TLSA base domain or reference identifier that is
	// not a host name [validation-failure].
	ErrInvalidName = errors.New("invalid host name")
)

// resultOf returns the result type of a sentinel error of this package.
func resultOf(sentinel error) validate.ResultType {
	switch sentinel {
	case ErrNoUsableRecords, ErrNoMatch:
		return validate.ResultTLSAInvalid
	case ErrDNSSECInvalid:
		return validate.ResultDNSSECInvalid
	case ErrDANERequired:
		return validate.ResultDANERequired
	case validate.ErrHostMismatch:
		return validate.ResultCertificateHostMismatch
	case validate.ErrExpired:
		return validate.ResultCertificateExpired
	case validate.ErrNotTrusted:
		return validate.ResultCertificateNotTrusted
	}
	return validate.ResultValidationFailure
}

// NewError returns the [*validate.Error] for a DANE failure at the MX host
// host: sentinel (one of this package's, or of package validate, as listed
// above) decides the result type, and cause, if not nil, is wrapped too. A
// resolver uses it for the failures of its lookups, such as
// [ErrDNSSECInvalid] and [ErrDANERequired].
func NewError(host string, sentinel, cause error) *validate.Error {
	return validate.NewError(host, resultOf(sentinel), sentinel, cause)
}

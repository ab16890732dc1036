package validate

import "errors"

// Sentinel errors. Every failure of this package is an [*Error] that wraps
// exactly one of them; test with [errors.Is]. Each maps to one result type,
// given in brackets. Their texts are short and stable, fit for the
// failure-reason-code of a TLS-RPT report (see [Error.Reason]).
var (
	// ErrInvalidHost: the MX host name is empty or not a valid domain name
	// [validation-failure].
	ErrInvalidHost = errors.New("invalid mx host name")
	// ErrMXMismatch: the MX host matches no mx pattern of the policy
	// [validation-failure]; RFC 8460 has no dedicated type for it.
	ErrMXMismatch = errors.New("mx host not in policy")
	// ErrNoCertificate: the server presented no certificate
	// [validation-failure].
	ErrNoCertificate = errors.New("no certificate presented")
	// ErrTLSVersion: the connection uses a TLS version older than 1.2
	// [validation-failure]. RFC 8461 section 7.2 requires TLS 1.2 support
	// and the guidance of RFC 7525, which RFC 8996 has since made a ban on
	// TLS 1.0 and 1.1.
	ErrTLSVersion = errors.New("tls version older than 1.2")
	// ErrHostMismatch: no DNS-ID (SAN dNSName) of the certificate matches
	// the MX host [certificate-host-mismatch].
	ErrHostMismatch = errors.New("certificate not valid for mx host")
	// ErrExpired: the certificate, or a certificate of the only chain that
	// leads to a trusted root, has expired [certificate-expired].
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid: the certificate, or a certificate of its chain, is not
	// valid yet [validation-failure]. RFC 8460 registers
	// certificate-expired for a certificate that "has expired"; a
	// not-yet-valid one has not, and the usual causes (a skewed clock on
	// either side, a certificate deployed before its start date) are not
	// what a domain owner looks for when told a certificate expired. The
	// registry sends failures that fit no category to validation-failure,
	// and this reason code tells the owner what happened.
	ErrNotYetValid = errors.New("certificate not yet valid")
	// ErrNotTrusted: no chain of trust leads from the certificate to a
	// trusted root: unknown authority, an intermediate not allowed to sign,
	// a name constraint violated [certificate-not-trusted].
	ErrNotTrusted = errors.New("certificate not trusted")
	// ErrKeyUsage: the certificate, or its chain, does not allow server
	// authentication (extended key usage) [validation-failure].
	ErrKeyUsage = errors.New("certificate not for server authentication")
	// ErrBadCertificate: the certificate could not be validated for another
	// reason, such as an unhandled critical extension, or no system roots
	// to verify against [validation-failure].
	ErrBadCertificate = errors.New("certificate invalid")
)

// sentinelResult returns the result type that a sentinel error maps to.
func sentinelResult(err error) ResultType {
	switch err {
	case ErrHostMismatch:
		return ResultCertificateHostMismatch
	case ErrExpired:
		return ResultCertificateExpired
	case ErrNotTrusted:
		return ResultCertificateNotTrusted
	}
	return ResultValidationFailure
}

// Error is a validation failure: the MX host it concerns, the result type
// to report, and the cause. Err wraps one of the sentinel errors of this
// package and, when there is one, the underlying error of crypto/x509.
type Error struct {
	Result ResultType // never ""
	Host   string     // the MX host name, as given by the caller
	Err    error
}

// newError returns an *Error for host wrapping sentinel and, if not nil,
// cause.
func newError(host string, sentinel, cause error) *Error {
	err := sentinel
	if cause != nil {
		err = &causeError{sentinel: sentinel, cause: cause}
	}
	return &Error{Result: sentinelResult(sentinel), Host: host, Err: err}
}

// NewError returns an *Error for host with result type result, wrapping
// sentinel and, if not nil, cause: errors.Is finds the sentinel, errors.As
// finds the cause, and [Error.Reason] is the sentinel's text. It is for
// packages that validate by other rules, such as DANE (package dane), so
// that every failure of a handshake is one *Error with one result type.
func NewError(host string, result ResultType, sentinel, cause error) *Error {
	e := newError(host, sentinel, cause)
	e.Result = result
	return e
}

// Error returns "validate: <host>: <result type>: <cause>".
func (e *Error) Error() string {
	s := "validate: "
	if e.Host != "" {
		s += e.Host + ": "
	}
	return s + string(e.Result) + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Reason returns a short, stable description of the failure without
// details: the text of the sentinel error that e wraps, such as
// "certificate not trusted". It suits the failure-reason-code field of a
// TLS-RPT report, which RFC 8460 section 4.3 asks for with
// certificate-not-trusted and validation-failure.
func (e *Error) Reason() string {
	if c, ok := e.Err.(*causeError); ok {
		return c.sentinel.Error()
	}
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// causeError pairs a sentinel error with the error that caused it, so that
// errors.Is finds the sentinel and errors.As finds the x509 error.
type causeError struct {
	sentinel error
	cause    error
}

func (c *causeError) Error() string   { return c.sentinel.Error() + ": " + c.cause.Error() }
func (c *causeError) Unwrap() []error { return []error{c.sentinel, c.cause} }

package validate

import "errors"

// ResultType is a result type of the TLS-RPT registry (RFC 8460 section 4.3
// and the "STARTTLS Validation Result Types" registry of section 6.6): the
// reason, in a report's failure-details, why a session failed. The constants
// below are the only place where the library spells these strings; tlsrpt
// and resolver use them.
//
// The zero ResultType, "", means "no failure".
type ResultType string

// Negotiation failures (RFC 8460 section 4.3.1).
const (
	// ResultStartTLSNotSupported: the receiving MX did not offer STARTTLS.
	ResultStartTLSNotSupported ResultType = "starttls-not-supported"
	// ResultCertificateHostMismatch: the certificate presented did not
	// match the MX host name.
	ResultCertificateHostMismatch ResultType = "certificate-host-mismatch"
	// ResultCertificateExpired: the certificate has expired.
	ResultCertificateExpired ResultType = "certificate-expired"
	// ResultCertificateNotTrusted: no chain of trust could be established
	// to a root the sender trusts.
	ResultCertificateNotTrusted ResultType = "certificate-not-trusted"
	// ResultValidationFailure: any other failure, such as an MX host that
	// matches no pattern of the policy (RFC 8460 section 4.3.3: failures
	// that fit no other category).
	ResultValidationFailure ResultType = "validation-failure"
)

// DANE failures (RFC 8460 section 4.3.2), for callers that implement DANE.
const (
	// ResultTLSAInvalid: a validation error in the TLSA records.
	ResultTLSAInvalid ResultType = "tlsa-invalid"
	// ResultDNSSECInvalid: no valid records were returned by a DNSSEC
	// validating resolver.
	ResultDNSSECInvalid ResultType = "dnssec-invalid"
	// ResultDANERequired: the sending system is configured to require DANE
	// TLSA records for all MX hosts, and none were found.
	ResultDANERequired ResultType = "dane-required"
)

// MTA-STS policy failures (RFC 8460 section 4.3.2), detected by the
// resolver when it fetches a policy.
const (
	// ResultSTSPolicyFetchError: the policy could not be fetched (the host
	// was unreachable, or answered with an HTTP error or a redirect).
	ResultSTSPolicyFetchError ResultType = "sts-policy-fetch-error"
	// ResultSTSPolicyInvalid: the policy was fetched but is invalid.
	ResultSTSPolicyInvalid ResultType = "sts-policy-invalid"
	// ResultSTSWebPKIInvalid: the certificate of the policy host
	// (mta-sts.<domain>) failed WebPKI validation.
	ResultSTSWebPKIInvalid ResultType = "sts-webpki-invalid"
)

// String returns r as written in a report.
func (r ResultType) String() string { return string(r) }

// Valid reports whether r is one of the result types that RFC 8460
// registers.
func (r ResultType) Valid() bool {
	switch r {
	case ResultStartTLSNotSupported, ResultCertificateHostMismatch,
		ResultCertificateExpired, ResultCertificateNotTrusted,
		ResultValidationFailure, ResultTLSAInvalid, ResultDNSSECInvalid,
		ResultDANERequired, ResultSTSPolicyFetchError,
		ResultSTSPolicyInvalid, ResultSTSWebPKIInvalid:
		return true
	}
	return false
}

// ResultOf returns the result type to report for err, the outcome of a
// validation or of a TLS handshake that used a configuration from
// [TLSConfig]: "" for nil, the Result of an [*Error] anywhere in err's
// chain, and [ResultValidationFailure] for any other error (a TLS alert, a
// protocol version the peer refused, a malformed handshake).
//
// ResultOf cannot tell a network failure from a TLS failure: a caller that
// follows RFC 8460 section 4.3.4 and leaves transient network errors
// (timeouts, resets) out of its reports must filter them first.
func ResultOf(err error) ResultType {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Result
	}
	return ResultValidationFailure
}

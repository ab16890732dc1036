package validate

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testca"
)

// TestCertificate covers RFC 8461 section 4.2 (and RFC 6125 name matching) and
// the mapping of each failure onto one RFC 8460 result type.
func TestCertificate(t *testing.T) {
	root := testca.NewRoot(t, testca.Spec{CN: "Test Root"})
	other := testca.NewRoot(t, testca.Spec{CN: "Other Root"})
	inter := root.Intermediate(t, testca.Spec{CN: "Test Intermediate"})
	expiredInter := root.Intermediate(t, testca.Spec{CN: "Expired Intermediate", NotAfter: testNow.AddDate(0, -1, 0)})
	earlyInter := root.Intermediate(t, testca.Spec{CN: "Future Intermediate", NotBefore: testNow.AddDate(0, 1, 0)})
	staleCross := other.Intermediate(t, testca.Spec{CN: "Stale Cross-sign", NotAfter: testNow.AddDate(-1, 0, 0)})

	leaf := func(ca *testca.CA, s testca.Spec) *x509.Certificate {
		c, _ := ca.Leaf(t, s)
		return c
	}
	san := func(names ...string) testca.Spec { return testca.Spec{CN: names[0], DNSNames: names} }
	good := leaf(root, san("mx1.example.com"))
	viaInter := leaf(inter, san("mx1.example.com"))
	notCA, notCAKey := root.Leaf(t, san("not-a-ca.example.com"))
	underNotCA := leaf(&testca.CA{Cert: notCA, Key: notCAKey}, san("mx1.example.com"))

	const host = "mx1.example.com"
	tests := []struct {
		name   string
		host   string
		chain  []*x509.Certificate
		want   error
		result ResultType
	}{
		// Valid certificates.
		{"san_exact", host, []*x509.Certificate{good}, nil, ""},
		{"san_wildcard_one_label", host, []*x509.Certificate{leaf(root, san("*.example.com"))}, nil, ""},
		{"san_second_entry", host, []*x509.Certificate{leaf(root, san("other.example.com", "mx1.example.com"))}, nil, ""},
		{"san_case_insensitive", host, []*x509.Certificate{leaf(root, san("MX1.Example.COM"))}, nil, ""},
		{"san_trailing_dot", host, []*x509.Certificate{leaf(root, san("mx1.example.com."))}, nil, ""},
		{"host_case_insensitive", "MX1.EXAMPLE.COM", []*x509.Certificate{good}, nil, ""},
		{"host_trailing_dot", "mx1.example.com.", []*x509.Certificate{good}, nil, ""},
		{"idn_host_a_label_san", "mx.bücher.example", []*x509.Certificate{leaf(root, san("mx.xn--bcher-kva.example"))}, nil, ""},
		{"idn_host_wildcard_san", "mx.bücher.example", []*x509.Certificate{leaf(root, san("*.xn--bcher-kva.example"))}, nil, ""},
		{"idn_a_label_host_upper_san", "mx.xn--bcher-kva.example", []*x509.Certificate{leaf(root, san("MX.XN--BCHER-KVA.EXAMPLE"))}, nil, ""},
		{"intermediate_chain", host, []*x509.Certificate{viaInter, inter.Cert}, nil, ""},
		{"intermediate_chain_with_root", host, []*x509.Certificate{viaInter, inter.Cert, root.Cert}, nil, ""},
		{"stale_extra_certificate_ignored", host, []*x509.Certificate{viaInter, inter.Cert, staleCross.Cert}, nil, ""},

		// certificate-host-mismatch.
		{"wrong_host", host, []*x509.Certificate{leaf(root, san("mx2.example.com"))}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"cn_only_never_matches", host, []*x509.Certificate{leaf(root, testca.Spec{CN: host})}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"cn_ignored_when_san_differs", host, []*x509.Certificate{leaf(root, testca.Spec{CN: host, DNSNames: []string{"other.example.com"}})}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"wildcard_too_deep", "a.mx1.example.com", []*x509.Certificate{leaf(root, san("*.example.com"))}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"wildcard_not_parent", "example.com", []*x509.Certificate{leaf(root, san("*.example.com"))}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"wildcard_partial_label", host, []*x509.Certificate{leaf(root, san("mx*.example.com"))}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"wildcard_not_left_most", host, []*x509.Certificate{leaf(root, san("mx1.*.com"))}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"wildcard_in_a_label", "xn--bcher-kva.example", []*x509.Certificate{leaf(root, san("xn--*.example"))}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"san_of_other_pattern_host", "mx2.example.com", []*x509.Certificate{good}, ErrHostMismatch, ResultCertificateHostMismatch},
		{"idn_other_name", "mx.bücher.example", []*x509.Certificate{leaf(root, san("mx.bucher.example"))}, ErrHostMismatch, ResultCertificateHostMismatch},

		// certificate-expired, and not yet valid (validation-failure).
		{"expired", host, []*x509.Certificate{leaf(root, testca.Spec{DNSNames: []string{host}, NotAfter: testNow.Add(-time.Second)})}, ErrExpired, ResultCertificateExpired},
		{"expired_intermediate", host, []*x509.Certificate{leaf(expiredInter, san(host)), expiredInter.Cert}, ErrExpired, ResultCertificateExpired},
		{"expired_before_host_mismatch", host, []*x509.Certificate{leaf(root, testca.Spec{DNSNames: []string{"other.example"}, NotAfter: testNow.AddDate(0, 0, -1)})}, ErrExpired, ResultCertificateExpired},
		{"not_yet_valid", host, []*x509.Certificate{leaf(root, testca.Spec{DNSNames: []string{host}, NotBefore: testNow.Add(time.Hour)})}, ErrNotYetValid, ResultValidationFailure},
		{"not_yet_valid_intermediate", host, []*x509.Certificate{leaf(earlyInter, san(host)), earlyInter.Cert}, ErrNotYetValid, ResultValidationFailure},

		// certificate-not-trusted.
		{"untrusted_root", host, []*x509.Certificate{leaf(other, san(host))}, ErrNotTrusted, ResultCertificateNotTrusted},
		{"self_signed", host, []*x509.Certificate{testca.NewRoot(t, testca.Spec{CN: host}).Cert}, ErrNotTrusted, ResultCertificateNotTrusted},
		{"missing_intermediate", host, []*x509.Certificate{viaInter}, ErrNotTrusted, ResultCertificateNotTrusted},
		{"issuer_not_a_ca", host, []*x509.Certificate{underNotCA, notCA}, ErrNotTrusted, ResultCertificateNotTrusted},
		{"untrusted_before_host_mismatch", host, []*x509.Certificate{leaf(other, san("other.example"))}, ErrNotTrusted, ResultCertificateNotTrusted},

		// validation-failure.
		{"client_auth_only", host, []*x509.Certificate{leaf(root, testca.Spec{DNSNames: []string{host}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})}, ErrKeyUsage, ResultValidationFailure},
		{"no_certificate", host, nil, ErrNoCertificate, ResultValidationFailure},
		{"nil_certificate", host, []*x509.Certificate{nil}, ErrNoCertificate, ResultValidationFailure},
		{"empty_host", "", []*x509.Certificate{good}, ErrInvalidHost, ResultValidationFailure},
		{"malformed_host", "mx1..example.com", []*x509.Certificate{good}, ErrInvalidHost, ResultValidationFailure},
		{"wildcard_host", "*.example.com", []*x509.Certificate{leaf(root, san("*.example.com"))}, ErrInvalidHost, ResultValidationFailure},
		{"ip_host", "192.0.2.1", []*x509.Certificate{good}, ErrInvalidHost, ResultValidationFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Certificate(tt.host, tt.chain, root.Pool(), testNow)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Certificate(%q) = %v, want nil", tt.host, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Certificate(%q) = %v, want %v", tt.host, err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Certificate(%q) = %T, want *Error", tt.host, err)
			}
			if e.Result != tt.result || ResultOf(err) != tt.result {
				t.Errorf("result = %q, want %q", e.Result, tt.result)
			}
			if e.Host != tt.host {
				t.Errorf("Host = %q, want %q", e.Host, tt.host)
			}
			if e.Reason() != tt.want.Error() {
				t.Errorf("Reason() = %q, want %q", e.Reason(), tt.want.Error())
			}
		})
	}
}

// TestCertificateX509Cause checks that the crypto/x509 error stays
// reachable behind the sentinel.
func TestCertificateX509Cause(t *testing.T) {
	root, other := testca.NewRoot(t, testca.Spec{CN: "Root"}), testca.NewRoot(t, testca.Spec{CN: "Other"})
	c, _ := other.Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}})
	err := Certificate("mx.example.com", []*x509.Certificate{c}, root.Pool(), testNow)
	var unknown x509.UnknownAuthorityError
	if !errors.Is(err, ErrNotTrusted) || !errors.As(err, &unknown) {
		t.Fatalf("Certificate = %v, want ErrNotTrusted wrapping x509.UnknownAuthorityError", err)
	}
	want := "validate: mx.example.com: certificate-not-trusted: certificate not trusted: " + unknown.Error()
	if err.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", err.Error(), want)
	}
}

// TestCertificateZeroTime checks that a zero time means the current time,
// as in x509.VerifyOptions.
func TestCertificateZeroTime(t *testing.T) {
	root := testca.NewRoot(t, testca.Spec{CN: "Root"})
	now := time.Now()
	valid, _ := root.Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err := Certificate("mx.example.com", []*x509.Certificate{valid}, root.Pool(), time.Time{}); err != nil {
		t.Errorf("valid now: %v", err)
	}
	expired, _ := root.Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}, NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)})
	if err := Certificate("mx.example.com", []*x509.Certificate{expired}, root.Pool(), time.Time{}); !errors.Is(err, ErrExpired) {
		t.Errorf("expired an hour ago: %v, want ErrExpired", err)
	}
}

func TestResultType(t *testing.T) {
	all := []ResultType{
		ResultStartTLSNotSupported, ResultCertificateHostMismatch, ResultCertificateExpired,
		ResultCertificateNotTrusted, ResultValidationFailure, ResultTLSAInvalid,
		ResultDNSSECInvalid, ResultDANERequired, ResultSTSPolicyFetchError,
		ResultSTSPolicyInvalid, ResultSTSWebPKIInvalid,
	}
	want := []string{
		"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
		"certificate-not-trusted", "validation-failure", "tlsa-invalid",
		"dnssec-invalid", "dane-required", "sts-policy-fetch-error",
		"sts-policy-invalid", "sts-webpki-invalid",
	}
	for i, r := range all {
		if r.String() != want[i] || !r.Valid() {
			t.Errorf("%q: String() = %q, Valid() = %v", want[i], r.String(), r.Valid())
		}
	}
	for _, r := range []ResultType{"", "Certificate-Expired", "certificate-revoked"} {
		if r.Valid() {
			t.Errorf("ResultType(%q).Valid() = true", r)
		}
	}
}

func TestResultOf(t *testing.T) {
	wrapped := &Error{Result: ResultCertificateExpired, Host: "mx", Err: ErrExpired}
	tests := []struct {
		name string
		err  error
		want ResultType
	}{
		{"nil_is_success", nil, ""},
		{"error_result", wrapped, ResultCertificateExpired},
		{"wrapped_error_result", errors.Join(errors.New("smtp"), wrapped), ResultCertificateExpired},
		{"other_error_is_validation_failure", errors.New("tls: protocol version not supported"), ResultValidationFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResultOf(tt.err); got != tt.want {
				t.Errorf("ResultOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestSentinelResults pins the one result type of every sentinel.
func TestSentinelResults(t *testing.T) {
	want := map[error]ResultType{
		ErrInvalidHost:    ResultValidationFailure,
		ErrMXMismatch:     ResultValidationFailure,
		ErrNoCertificate:  ResultValidationFailure,
		ErrTLSVersion:     ResultValidationFailure,
		ErrHostMismatch:   ResultCertificateHostMismatch,
		ErrExpired:        ResultCertificateExpired,
		ErrNotYetValid:    ResultValidationFailure,
		ErrNotTrusted:     ResultCertificateNotTrusted,
		ErrKeyUsage:       ResultValidationFailure,
		ErrBadCertificate: ResultValidationFailure,
	}
	for err, r := range want {
		if got := newError("mx", err, nil).Result; got != r {
			t.Errorf("%v: result %q, want %q", err, got, r)
		}
	}
}

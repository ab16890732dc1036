package dane

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testca"
	"github.com/mtasts-go/mtasts/validate"
)

// pki is a throwaway PKI: a root, an intermediate, and leaves under the
// intermediate for the MX host mx.example.com, good and bad.
type pki struct {
	root, inter, otherRoot                 *testca.CA
	leaf, expired, early, wrongName, noSAN *x509.Certificate
	wildcard, clientOnly, cnOnlyWrong      *x509.Certificate
	selfSigned, selfSignedExpired, direct  *x509.Certificate
	expiredInter, expiredRoot              *testca.CA
	leafOfExpiredInter, leafOfExpiredRoot  *x509.Certificate
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{}
	p.root = testca.NewRoot(t, testca.Spec{CN: "Test Root"})
	p.otherRoot = testca.NewRoot(t, testca.Spec{CN: "Other Root"})
	p.inter = p.root.Intermediate(t, testca.Spec{CN: "Test Intermediate"})
	mx := []string{"mx.example.com"}
	p.leaf, _ = p.inter.Leaf(t, testca.Spec{CN: "mx.example.com", DNSNames: mx})
	p.expired, _ = p.inter.Leaf(t, testca.Spec{CN: "mx.example.com", DNSNames: mx, NotAfter: lastYear})
	p.early, _ = p.inter.Leaf(t, testca.Spec{CN: "mx.example.com", DNSNames: mx, NotBefore: nextYear})
	p.wrongName, _ = p.inter.Leaf(t, testca.Spec{CN: "mx.example.com", DNSNames: []string{"mail.example.net"}})
	p.noSAN, _ = p.inter.Leaf(t, testca.Spec{CN: "mx.example.com"})
	p.cnOnlyWrong, _ = p.inter.Leaf(t, testca.Spec{CN: "other.example.com"})
	p.wildcard, _ = p.inter.Leaf(t, testca.Spec{CN: "wildcard", DNSNames: []string{"*.example.com"}})
	p.clientOnly, _ = p.inter.Leaf(t, testca.Spec{CN: "mx.example.com", DNSNames: mx,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.selfSigned, _ = testca.SelfSigned(t, testca.Spec{CN: "self-signed", DNSNames: []string{"localhost"}})
	p.selfSignedExpired, _ = testca.SelfSigned(t, testca.Spec{CN: "self-signed", NotBefore: longAgo, NotAfter: lastYear})
	p.direct, _ = p.root.Leaf(t, testca.Spec{CN: "mx.example.com", DNSNames: mx})
	p.expiredInter = p.root.Intermediate(t, testca.Spec{CN: "Expired Intermediate", NotAfter: lastYear})
	p.leafOfExpiredInter, _ = p.expiredInter.Leaf(t, testca.Spec{DNSNames: mx, NotAfter: farAhead})
	p.expiredRoot = testca.NewRoot(t, testca.Spec{CN: "Expired Root", NotAfter: lastYear})
	p.leafOfExpiredRoot, _ = p.expiredRoot.Leaf(t, testca.Spec{DNSNames: mx})
	return p
}

func chain(c ...*x509.Certificate) []*x509.Certificate { return c }

type verifyCase struct {
	name    string
	records []Record
	chain   []*x509.Certificate
	names   []string // more reference identifiers
	base    string   // default mx.example.com
	want    error    // a sentinel, or nil
	result  validate.ResultType
}

func runVerifyCases(t *testing.T, cases []verifyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := c.base
			if base == "" {
				base = "mx.example.com"
			}
			s := mustSet(t, base, c.records...)
			err := s.Verify(c.chain, c.names, testNow)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			var e *validate.Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify = %T, want a *validate.Error", err)
			}
			if got := validate.ResultOf(err); got != c.result {
				t.Errorf("result %q, want %q", got, c.result)
			}
			if e.Reason() != c.want.Error() {
				t.Errorf("Reason() = %q, want %q", e.Reason(), c.want.Error())
			}
		})
	}
}

// TestVerify_DANE_EE: the leaf matches by each selector and matching type;
// neither names nor validity nor issuer count (RFC 7672 section 3.1.1).
func TestVerify_DANE_EE(t *testing.T) {
	p := newPKI(t)
	var cases []verifyCase
	for _, sel := range []Selector{Cert, SPKI} {
		for _, mt := range []MatchingType{Full, SHA256, SHA512} {
			prefix := sel.String() + "_" + mt.String() + "_"
			cases = append(cases,
				verifyCase{name: prefix + "leaf", records: []Record{rec(DANEEE, sel, mt, p.leaf)},
					chain: chain(p.leaf, p.inter.Cert, p.root.Cert)},
				verifyCase{name: prefix + "self_signed_alone", records: []Record{rec(DANEEE, sel, mt, p.selfSigned)},
					chain: chain(p.selfSigned)},
				verifyCase{name: prefix + "expired_self_signed", records: []Record{rec(DANEEE, sel, mt, p.selfSignedExpired)},
					chain: chain(p.selfSignedExpired)},
				verifyCase{name: prefix + "wrong_name", records: []Record{rec(DANEEE, sel, mt, p.wrongName)},
					chain: chain(p.wrongName, p.inter.Cert)},
				verifyCase{name: prefix + "issuer_does_not_match", records: []Record{rec(DANEEE, sel, mt, p.inter.Cert)},
					chain: chain(p.leaf, p.inter.Cert), want: ErrNoMatch, result: validate.ResultTLSAInvalid},
				verifyCase{name: prefix + "other_leaf", records: []Record{rec(DANEEE, sel, mt, p.leaf)},
					chain: chain(p.selfSigned), want: ErrNoMatch, result: validate.ResultTLSAInvalid},
			)
		}
	}
	cases = append(cases,
		verifyCase{name: "not_for_server_auth", records: []Record{rec(DANEEE, SPKI, SHA256, p.clientOnly)},
			chain: chain(p.clientOnly)},
		verifyCase{name: "not_yet_valid", records: []Record{rec(DANEEE, SPKI, SHA256, p.early)},
			chain: chain(p.early)},
		verifyCase{name: "same_key_new_certificate_spki", records: []Record{rec(DANEEE, SPKI, SHA256, p.leaf)},
			chain: chain(p.leaf)},
		verifyCase{name: "no_certificate", records: []Record{rec(DANEEE, SPKI, SHA256, p.leaf)},
			want: validate.ErrNoCertificate, result: validate.ResultValidationFailure},
		verifyCase{name: "nil_leaf", records: []Record{rec(DANEEE, SPKI, SHA256, p.leaf)}, chain: chain(nil),
			want: validate.ErrNoCertificate, result: validate.ResultValidationFailure},
		verifyCase{name: "one_of_several", records: []Record{rec(DANEEE, SPKI, SHA256, p.selfSigned), rec(DANEEE, Cert, SHA256, p.leaf)},
			chain: chain(p.leaf)},
	)
	runVerifyCases(t, cases)
}

// TestVerify_DANE_TA: a chain to a matching trust anchor, valid now, for
// a reference identifier (RFC 7672 sections 3.1.2 and 3.2.3).
func TestVerify_DANE_TA(t *testing.T) {
	p := newPKI(t)
	full := chain(p.leaf, p.inter.Cert, p.root.Cert)
	var cases []verifyCase
	for _, sel := range []Selector{Cert, SPKI} {
		for _, mt := range []MatchingType{Full, SHA256, SHA512} {
			prefix := sel.String() + "_" + mt.String() + "_"
			cases = append(cases,
				verifyCase{name: prefix + "root_in_chain", records: []Record{rec(DANETA, sel, mt, p.root.Cert)}, chain: full},
				verifyCase{name: prefix + "intermediate", records: []Record{rec(DANETA, sel, mt, p.inter.Cert)},
					chain: chain(p.leaf, p.inter.Cert)},
				verifyCase{name: prefix + "other_ca", records: []Record{rec(DANETA, sel, mt, p.otherRoot.Cert)}, chain: full,
					want: ErrNoMatch, result: validate.ResultTLSAInvalid},
				verifyCase{name: prefix + "record_of_the_leaf_is_no_anchor", records: []Record{rec(DANETA, sel, mt, p.leaf)},
					chain: full, want: ErrNoMatch, result: validate.ResultTLSAInvalid},
				verifyCase{name: prefix + "expired_leaf", records: []Record{rec(DANETA, sel, mt, p.root.Cert)},
					chain: chain(p.expired, p.inter.Cert, p.root.Cert), want: validate.ErrExpired, result: validate.ResultCertificateExpired},
				verifyCase{name: prefix + "wrong_name", records: []Record{rec(DANETA, sel, mt, p.root.Cert)},
					chain: chain(p.wrongName, p.inter.Cert, p.root.Cert), want: validate.ErrHostMismatch, result: validate.ResultCertificateHostMismatch},
			)
		}
	}
	cases = append(cases,
		// Trust anchors absent from the chain.
		verifyCase{name: "ta_key_not_in_chain_2_1_0", records: []Record{rec(DANETA, SPKI, Full, p.root.Cert)},
			chain: chain(p.leaf, p.inter.Cert)},
		verifyCase{name: "ta_cert_not_in_chain_2_0_0", records: []Record{rec(DANETA, Cert, Full, p.root.Cert)},
			chain: chain(p.leaf, p.inter.Cert)},
		verifyCase{name: "ta_key_signs_leaf_directly", records: []Record{rec(DANETA, SPKI, Full, p.root.Cert)},
			chain: chain(p.direct)},
		verifyCase{name: "ta_digest_not_in_chain_2_1_1", records: []Record{rec(DANETA, SPKI, SHA256, p.root.Cert)},
			chain: chain(p.leaf, p.inter.Cert), want: ErrNoMatch, result: validate.ResultTLSAInvalid},
		verifyCase{name: "ta_key_of_other_ca", records: []Record{rec(DANETA, SPKI, Full, p.otherRoot.Cert)},
			chain: chain(p.leaf, p.inter.Cert), want: ErrNoMatch, result: validate.ResultTLSAInvalid},
		verifyCase{name: "self_signed_leaf_is_no_anchor", records: []Record{rec(DANETA, Cert, SHA256, p.selfSigned)},
			chain: chain(p.selfSigned), base: "localhost.example", want: ErrNoMatch, result: validate.ResultTLSAInvalid},
		// Chain checks.
		verifyCase{name: "missing_intermediate", records: []Record{rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: chain(p.leaf, p.root.Cert), want: validate.ErrNotTrusted, result: validate.ResultCertificateNotTrusted},
		verifyCase{name: "expired_intermediate", records: []Record{rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: chain(p.leafOfExpiredInter, p.expiredInter.Cert, p.root.Cert), want: validate.ErrExpired, result: validate.ResultCertificateExpired},
		verifyCase{name: "expired_trust_anchor", records: []Record{rec(DANETA, Cert, SHA256, p.expiredRoot.Cert)},
			chain: chain(p.leafOfExpiredRoot, p.expiredRoot.Cert), want: validate.ErrExpired, result: validate.ResultCertificateExpired},
		verifyCase{name: "expired_trust_anchor_not_in_chain_2_0_0", records: []Record{rec(DANETA, Cert, Full, p.expiredRoot.Cert)},
			chain: chain(p.leafOfExpiredRoot), want: validate.ErrExpired, result: validate.ResultCertificateExpired},
		verifyCase{name: "expired_trust_anchor_key_alone_counts_not", records: []Record{rec(DANETA, SPKI, Full, p.expiredRoot.Cert)},
			chain: chain(p.leafOfExpiredRoot)},
		verifyCase{name: "not_yet_valid_leaf", records: []Record{rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: chain(p.early, p.inter.Cert, p.root.Cert), want: validate.ErrNotYetValid, result: validate.ResultValidationFailure},
		verifyCase{name: "not_for_server_auth", records: []Record{rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: chain(p.clientOnly, p.inter.Cert, p.root.Cert), want: validate.ErrKeyUsage, result: validate.ResultValidationFailure},
		// Names (RFC 7672 section 3.2.3).
		verifyCase{name: "mx_name_when_base_differs", records: []Record{rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: full, base: "mx.hosting.example", names: []string{"MX.example.com."}},
		verifyCase{name: "neither_base_nor_names", records: []Record{rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: full, base: "mx.hosting.example", names: []string{"mail.example.com"},
			want: validate.ErrHostMismatch, result: validate.ResultCertificateHostMismatch},
		verifyCase{name: "wildcard_one_label", records: []Record{rec(DANETA, Cert, SHA256, p.inter.Cert)},
			chain: chain(p.wildcard, p.inter.Cert)},
		verifyCase{name: "wildcard_not_two_labels", records: []Record{rec(DANETA, Cert, SHA256, p.inter.Cert)},
			chain: chain(p.wildcard, p.inter.Cert), base: "a.mx.example.com",
			want: validate.ErrHostMismatch, result: validate.ResultCertificateHostMismatch},
		verifyCase{name: "wildcard_not_the_parent", records: []Record{rec(DANETA, Cert, SHA256, p.inter.Cert)},
			chain: chain(p.wildcard, p.inter.Cert), base: "example.com",
			want: validate.ErrHostMismatch, result: validate.ResultCertificateHostMismatch},
		verifyCase{name: "common_name_without_dns_ids", records: []Record{rec(DANETA, Cert, SHA256, p.inter.Cert)},
			chain: chain(p.noSAN, p.inter.Cert)},
		verifyCase{name: "common_name_mismatch", records: []Record{rec(DANETA, Cert, SHA256, p.inter.Cert)},
			chain: chain(p.cnOnlyWrong, p.inter.Cert), want: validate.ErrHostMismatch, result: validate.ResultCertificateHostMismatch},
		verifyCase{name: "common_name_ignored_beside_dns_ids", records: []Record{rec(DANETA, Cert, SHA256, p.inter.Cert)},
			chain: chain(p.wrongName, p.inter.Cert), want: validate.ErrHostMismatch, result: validate.ResultCertificateHostMismatch},
		verifyCase{name: "invalid_reference_identifier", records: []Record{rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: full, names: []string{"not a name"}, want: ErrInvalidName, result: validate.ResultValidationFailure},
		// DANE-EE and DANE-TA together: either authenticates.
		verifyCase{name: "ee_fails_ta_passes", records: []Record{rec(DANEEE, SPKI, SHA256, p.selfSigned), rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: full},
		verifyCase{name: "ta_fails_ee_passes", records: []Record{rec(DANEEE, SPKI, SHA256, p.expired), rec(DANETA, Cert, SHA256, p.root.Cert)},
			chain: chain(p.expired, p.inter.Cert, p.root.Cert)},
		// No usable record at all.
		verifyCase{name: "only_pkix_records", records: []Record{rec(PKIXTA, Cert, SHA256, p.root.Cert), rec(PKIXEE, SPKI, SHA256, p.leaf)},
			chain: full, want: ErrNoUsableRecords, result: validate.ResultTLSAInvalid},
		verifyCase{name: "empty_rrset", chain: full, want: ErrNoUsableRecords, result: validate.ResultTLSAInvalid},
	)
	runVerifyCases(t, cases)
}

// A server that sends more certificates than anyone needs gets only the
// first ones looked at.
func TestVerify_long_chain(t *testing.T) {
	p := newPKI(t)
	long := chain(p.leaf, p.inter.Cert)
	for len(long) < 100 {
		long = append(long, p.otherRoot.Cert)
	}
	long = append(long, p.root.Cert)
	s := mustSet(t, "mx.example.com", rec(DANETA, SPKI, Full, p.otherRoot.Cert), rec(DANETA, Cert, SHA256, p.root.Cert))
	start := time.Now()
	err := s.Verify(long, nil, testNow)
	if !errors.Is(err, validate.ErrNotTrusted) {
		t.Errorf("Verify = %v, want %v", err, validate.ErrNotTrusted)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Verify took %v", d)
	}
}

func TestNewError(t *testing.T) {
	for _, c := range []struct {
		sentinel error
		want     validate.ResultType
	}{
		{ErrDNSSECInvalid, validate.ResultDNSSECInvalid},
		{ErrDANERequired, validate.ResultDANERequired},
		{ErrNoMatch, validate.ResultTLSAInvalid},
		{ErrNoUsableRecords, validate.ResultTLSAInvalid},
		{validate.ErrExpired, validate.ResultCertificateExpired},
		{ErrInvalidName, validate.ResultValidationFailure},
	} {
		cause := errors.New("servfail")
		err := NewError("mx.example.com", c.sentinel, cause)
		if validate.ResultOf(err) != c.want || !errors.Is(err, c.sentinel) || !errors.Is(err, cause) || err.Host != "mx.example.com" {
			t.Errorf("NewError(%v) = %v (%s)", c.sentinel, err, validate.ResultOf(err))
		}
		if err.Reason() != c.sentinel.Error() {
			t.Errorf("Reason() = %q", err.Reason())
		}
	}
}

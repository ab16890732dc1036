package validate

import (
	"errors"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/policy"
)

// mxTests are the rules of RFC 8461 section 4.1 and RFC 6125 section 6.4.
var mxTests = []struct {
	name    string
	pattern string
	host    string
	want    bool
}{
	// Exact names.
	{"exact_match", "mail.example.com", "mail.example.com", true},
	{"exact_case_insensitive", "mail.example.com", "MAIL.Example.COM", true},
	{"exact_trailing_dot_ignored", "mail.example.com", "mail.example.com.", true},
	{"exact_case_and_trailing_dot", "mail.example.com", "Mail.Example.Com.", true},
	{"exact_other_label", "abc.example.com", "def.example.com", false},
	{"exact_other_domain", "example.com", "example2.com", false},
	{"exact_does_not_cover_subdomain", "example.com", "mail.example.com", false},
	{"exact_does_not_cover_parent", "mail.example.com", "example.com", false},
	{"exact_suffix_is_not_enough", "example.com", "notexample.com", false},
	{"exact_two_trailing_dots", "mail.example.com", "mail.example.com..", false},
	{"exact_single_label", "localhost", "localhost", true},

	// Wildcards.
	{"wildcard_one_label", "*.example.com", "mail.example.com", true},
	{"wildcard_one_label_upper", "*.example.com", "MAIL.EXAMPLE.COM", true},
	{"wildcard_one_label_trailing_dot", "*.example.com", "mail.example.com.", true},
	{"wildcard_not_the_parent", "*.example.com", "example.com", false},
	{"wildcard_not_the_parent_trailing_dot", "*.example.com", "example.com.", false},
	{"wildcard_not_two_labels", "*.example.com", "foo.bar.example.com", false},
	{"wildcard_not_other_suffix", "*.example.com", "mail.notexample.com", false},
	{"wildcard_not_longer_name", "*.example.com", "mail.example.com.evil", false},
	{"wildcard_not_empty_label", "*.example.com", ".example.com", false},
	{"wildcard_a_label_host", "*.example.com", "xn--bcher-kva.example.com", true},
	{"wildcard_a_label_suffix", "*.xn--bcher-kva.example", "mx.xn--bcher-kva.example", true},
	{"wildcard_host_is_not_a_wildcard", "*.example.com", "*.example.com", false},
	{"wildcard_label_digits", "*.example.com", "123.example.com", true},
	{"wildcard_label_hyphen_inside", "*.example.com", "mx-1.example.com", true},
	{"wildcard_label_leading_hyphen", "*.example.com", "-mx.example.com", false},
	{"wildcard_label_trailing_hyphen", "*.example.com", "mx-.example.com", false},
	{"wildcard_label_underscore", "*.example.com", "mx_1.example.com", false},
	{"wildcard_label_space", "*.example.com", "mx 1.example.com", false},
	{"wildcard_label_63_octets", "*.example.com", strings.Repeat("a", 63) + ".example.com", true},
	{"wildcard_label_64_octets", "*.example.com", strings.Repeat("a", 64) + ".example.com", false},

	// IDN: U-labels become A-labels first.
	{"idn_u_label_host", "mx.xn--bcher-kva.example", "mx.bücher.example", true},
	{"idn_u_label_host_upper", "mx.xn--bcher-kva.example", "MX.BÜCHER.EXAMPLE", true},
	{"idn_u_label_host_trailing_dot", "mx.xn--bcher-kva.example", "mx.bücher.example.", true},
	{"idn_u_label_wildcard", "*.xn--bcher-kva.example", "mx.bücher.example", true},
	{"idn_u_label_in_wildcard_label", "*.example.com", "bücher.example.com", true},
	{"idn_u_label_wildcard_two_labels", "*.xn--bcher-kva.example", "a.mx.bücher.example", false},
	{"idn_a_label_upper", "mx.xn--bcher-kva.example", "MX.XN--BCHER-KVA.EXAMPLE", true},
	{"idn_ideographic_full_stop", "mx.xn--bcher-kva.example", "mx。bücher。example", true},
	{"idn_disallowed_code_point", "*.example.com", "a\u2028b.example.com", false},
	{"idn_invalid_utf8", "*.example.com", "\xff.example.com", false},
	{"idn_u_label_other_name", "mx.xn--bcher-kva.example", "mx.bucher.example", false},
	{"idn_uts46_mapping", "k.example.com", "\u212a.example.com", true}, // Kelvin sign

	// Malformed hosts never match.
	{"malformed_empty", "example.com", "", false},
	{"malformed_root_only", "*.com", ".", false},
	{"malformed_empty_label", "*.example.com", "a..example.com", false},
	{"malformed_leading_dot", "example.com", ".example.com", false},
	{"malformed_nul", "*.example.com", "a\x00.example.com", false},
	{"malformed_name_too_long", "*.example.com", strings.Repeat("a.", 123) + "example.com", false},
	{"malformed_ip_literal", "*.example.com", "192.0.2.1", false},
	{"malformed_bracketed_ip", "example.com", "[192.0.2.1]", false},
	{"malformed_case_only_letters", "a-b.example.com", "a\rb.example.com", false},

	// Malformed patterns match nothing that a host can be.
	{"pattern_empty", "", "", false},
	{"pattern_wildcard_only", "*.", "a.", false},
	{"pattern_inner_wildcard", "bar.*.example.net", "bar.foo.example.net", false},
	{"pattern_partial_wildcard", "b*z.example.net", "buzz.example.net", false},
	{"pattern_wildcard_in_a_label", "xn--*.example", "xn--bcher-kva.example", false},
	{"pattern_double_wildcard", "*.*.example.com", "a.b.example.com", false},
}

func TestMatchMX(t *testing.T) {
	for _, tt := range mxTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchMX(tt.pattern, tt.host); got != tt.want {
				t.Errorf("MatchMX(%q, %q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
			}
		})
	}
}

func TestMatchMXNoAllocs(t *testing.T) {
	for _, tt := range mxTests {
		if !isASCII(tt.host) {
			continue
		}
		if n := testing.AllocsPerRun(10, func() { MatchMX(tt.pattern, tt.host) }); n != 0 {
			t.Errorf("%s: MatchMX(%q, %q) allocates %v times", tt.name, tt.pattern, tt.host, n)
		}
	}
}

func TestAllows(t *testing.T) {
	p := &policy.Policy{
		Mode:   policy.ModeEnforce,
		MaxAge: 86400,
		MX:     []string{"mx1.example.net", "*.example.com", "mx.xn--bcher-kva.example"},
	}
	tests := []struct {
		name string
		p    *policy.Policy
		host string
		want bool
	}{
		{"first_pattern", p, "mx1.example.net", true},
		{"second_pattern_wildcard", p, "mail.example.com", true},
		{"third_pattern_idn", p, "mx.bücher.example", true},
		{"case_and_dot", p, "MX1.EXAMPLE.NET.", true},
		{"no_pattern", p, "mx2.example.net", false},
		{"wildcard_not_parent", p, "example.com", false},
		{"wildcard_not_two_labels", p, "a.b.example.com", false},
		{"empty_host", p, "", false},
		{"nil_policy", nil, "mx1.example.net", false},
		{"no_patterns", &policy.Policy{Mode: policy.ModeNone}, "mx1.example.net", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Allows(tt.p, tt.host); got != tt.want {
				t.Errorf("Allows(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
	if n := testing.AllocsPerRun(10, func() { Allows(p, "mail.example.com") }); n != 0 {
		t.Errorf("Allows allocates %v times", n)
	}
}

func TestMX(t *testing.T) {
	p := &policy.Policy{Mode: policy.ModeEnforce, MX: []string{"*.example.com"}}
	tests := []struct {
		name string
		p    *policy.Policy
		host string
		want error
	}{
		{"match", p, "mx.example.com.", nil},
		{"mismatch_is_validation_failure", p, "mx.example.net", ErrMXMismatch},
		{"invalid_host_is_validation_failure", p, "mx..example.com", ErrInvalidHost},
		{"nil_policy_matches_nothing", nil, "mx.example.com", ErrMXMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := MX(tt.p, tt.host)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("MX(%q) = %v, want %v", tt.host, err, tt.want)
			}
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Result != ResultValidationFailure || e.Host != tt.host {
				t.Errorf("MX(%q) = %#v, want *Error{Result: validation-failure, Host: %q}", tt.host, err, tt.host)
			}
		})
	}
}

func TestCanonicalHost(t *testing.T) {
	tests := []struct {
		name, host, want string
		ok               bool
	}{
		{"lower_case", "MX.Example.COM", "mx.example.com", true},
		{"trailing_dot", "mx.example.com.", "mx.example.com", true},
		{"u_labels", "mx.Bücher.example.", "mx.xn--bcher-kva.example", true},
		{"already_canonical", "mx.example.com", "mx.example.com", true},
		{"single_label", "localhost", "localhost", true},
		{"empty", "", "", false},
		{"dot_only", ".", "", false},
		{"empty_label", "mx..example.com", "", false},
		{"numeric_last_label", "192.0.2.1", "", false},
		{"wildcard", "*.example.com", "", false},
		{"leading_hyphen", "-mx.example.com", "", false},
		{"trailing_hyphen", "mx.example-.com", "", false},
		{"label_too_long", strings.Repeat("a", 64) + ".com", "", false},
		{"name_too_long", strings.Repeat("a.", 127) + "com", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := canonicalHost(tt.host)
			if got != tt.want || ok != tt.ok {
				t.Errorf("canonicalHost(%q) = %q, %v, want %q, %v", tt.host, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzMatchMX checks that MatchMX never panics, that a match means the
// host (without its trailing dot, lower-cased, as given or in A-labels)
// equals the pattern or, for a wildcard, is one label and "." and the
// pattern's suffix, and that a valid pattern never matches a malformed
// host.
func FuzzMatchMX(f *testing.F) {
	for _, tt := range mxTests {
		f.Add(tt.pattern, tt.host)
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		if !MatchMX(pattern, host) {
			return
		}
		p := toLower(pattern)
		follows := func(h string) bool {
			h = toLower(h)
			if suffix, wild := strings.CutPrefix(p, "*."); wild {
				first, rest, found := strings.Cut(h, ".")
				return found && first != "" && rest == suffix
			}
			return h == p
		}
		valid := policy.ValidPattern(pattern)
		h := trimDot(host)
		if follows(h) && (!valid || validName(h)) {
			return
		}
		if a, ok := toALabels(h); ok && follows(a) && (!valid || validName(a)) {
			return
		}
		t.Fatalf("MatchMX(%q, %q) = true, but the host does not follow the pattern (or is malformed)", pattern, host)
	})
}

package main

import (
	"strconv"

	"github.com/mtasts-go/mtasts/policy"
)

// appendTLSRPT appends to an OK reply the attributes that Postfix 3.10
// and later read from smtp_tls_policy_maps to name the policy in its TLSRPT
// reports (RFC 8460 section 4.4): the policy type and domain, each mx
// pattern as published (a wildcard keeps its "*."), and each line of the
// policy as a policy_string, in braces since it contains spaces:
//
//	policy_type=sts policy_domain=example.com mx_host_pattern=mx1.example.com
//	{ policy_string = version: STSv1 } { policy_string = mode: enforce }
//	{ policy_string = mx: mx1.example.com } { policy_string = max_age: 86400 }
//
// (one line in the reply). Postfix 3.9 and earlier reject these attributes
// as unknown, which is why they are opt-in. An extension whose value has a
// brace, which would break the braces' quoting, is left out.
func appendTLSRPT(b []byte, domain string, p *policy.Policy) []byte {
	b = append(b, " policy_type=sts policy_domain="...)
	b = append(b, domain...)
	for _, mx := range p.MX {
		b = append(b, " mx_host_pattern="...)
		b = append(b, mx...)
	}
	b = appendPolicyString(b, "version", policy.Version)
	b = appendPolicyString(b, "mode", p.Mode.String())
	for _, mx := range p.MX {
		b = appendPolicyString(b, "mx", mx)
	}
	b = append(b, " { policy_string = max_age: "...)
	b = strconv.AppendUint(b, uint64(p.MaxAge), 10)
	b = append(b, " }"...)
	for _, x := range p.Extensions {
		if !braceSafe(x.Key) || !braceSafe(x.Value) {
			continue
		}
		b = appendPolicyString(b, x.Key, x.Value)
	}
	return b
}

func appendPolicyString(b []byte, key, value string) []byte {
	b = append(b, " { policy_string = "...)
	b = append(b, key...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, " }"...)
}

// braceSafe reports whether s can stand inside "{ ... }" in a Postfix
// attribute list: no braces and no control characters.
func braceSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '{' || c == '}' || c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

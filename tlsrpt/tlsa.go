package tlsrpt

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// TLSA records arrive as text from the caller's DANE code; a report must
// carry them in presentation form, one record per element, the hex
// without spaces or parentheses (RFC 8460 section 4.5). Each distinct
// string is parsed once, with the zone-file parser of miekg/dns (so any
// form a zone file allows is read), and remembered.

// tlsaText returns the policy text of TLSA records, each in canonical
// presentation form ("3 1 1 ABCD..."), or the first record that is not
// valid; r.mu is held.
func (r *Recorder) tlsaText(records, mx []string) (policyText, string) {
	canon := make([]string, len(records))
	for i, s := range records {
		c, ok := r.tlsaMemo[s]
		if !ok {
			c = canonTLSA(s)
			if len(r.tlsaMemo) >= maxMemo {
				clear(r.tlsaMemo)
			}
			r.tlsaMemo[s] = c
		}
		if c == "" {
			return policyText{}, s
		}
		canon[i] = c
	}
	return newPolicyText(canon, mx), ""
}

// maxTLSAText bounds the text of one TLSA record: a SHA-512 digest takes
// 128 hex digits, a full certificate (matching type 0) a few thousand.
const maxTLSAText = 16 << 10

// canonTLSA returns the TLSA record data s ("usage selector matching
// data") in canonical presentation form, or "" if it is not valid.
func canonTLSA(s string) string {
	if s == "" || len(s) > maxTLSAText || strings.ContainsAny(s, ";\"\\$") {
		return "" // no comments, quotes, escapes or directives in RDATA
	}
	rr, err := dns.NewRR("tlsa.invalid. 3600 IN TLSA " + s)
	if err != nil {
		return ""
	}
	t, ok := rr.(*dns.TLSA)
	if !ok || t.Certificate == "" {
		return ""
	}
	data, err := hex.DecodeString(t.Certificate)
	if err != nil || len(data) == 0 {
		return ""
	}
	b := make([]byte, 0, 12+2*len(data))
	b = strconv.AppendUint(b, uint64(t.Usage), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(t.Selector), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(t.MatchingType), 10)
	b = append(b, ' ')
	return string(append(b, strings.ToUpper(hex.EncodeToString(data))...))
}

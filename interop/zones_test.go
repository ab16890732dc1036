package interop

import (
	"fmt"
	"strings"
)

// The zones of the DNS tests, written as an operator writes them: a tab is
// \009 inside a quoted string (NSD, like BIND, reads "\t" as a plain "t"),
// "\"" is a quote, "\\" a backslash, \DDD any byte.

// longSTS and longRPT are records of exactly one 255-byte string, the
// longest a TXT character-string can be.
var (
	longSTS = padTo("v=STSv1; id=long1; ext=", 255)
	longRPT = padTo("v=TLSRPTv1; rua=mailto:r@long.test; ext=", 255)
)

// padTo returns s padded with "x" to n bytes.
func padTo(s string, n int) string { return s + strings.Repeat("x", n-len(s)) }

// bigFiller are the TXT records beside the policy record at big.test: with
// them the RRset is larger than the 1232 bytes of a UDP answer, so the
// answer is truncated and the client must ask again over TCP.
func bigFiller() []string {
	var out []string
	for i := range 6 {
		out = append(out, padTo(fmt.Sprintf("filler-%d ", i), 250))
	}
	return out
}

// testZone returns the zone "test.", served by NSD at nsdIP, with extra
// lines at its end. The delegation of lame.test names the server at
// lameIP, which does not serve it: a lame delegation, answered REFUSED,
// which Unbound turns into SERVFAIL.
func testZone(nsdIP, lameIP, extra string) zoneFile {
	var b strings.Builder
	fmt.Fprintf(&b, `$ORIGIN test.
$TTL 300
@		IN SOA	ns1.test. hostmaster.test. ( 2026120101 3600 600 86400 60 )
		IN NS	ns1.test.
ns1		IN A	%[1]s

; A tab between the version and the first field, and before a ";".
_mta-sts.tab		IN TXT	"v=STSv1;\009id=tab1"
_smtp._tls.tab		IN TXT	"v=TLSRPTv1;\009rua=mailto:r@tab.test"
_mta-sts.tabbefore	IN TXT	"v=STSv1\009; id=tabbefore1"
_smtp._tls.tabbefore	IN TXT	"v=TLSRPTv1\009; rua=mailto:r@tabbefore.test"

; A quote and a backslash: printable ASCII, valid in an extension value.
_mta-sts.quote		IN TXT	"v=STSv1; id=quote1; ext=a\"b"
_smtp._tls.quote	IN TXT	"v=TLSRPTv1; rua=mailto:r@quote.test; ext=a\"b"
_mta-sts.backslash	IN TXT	"v=STSv1; id=backslash1; ext=a\\b"
_smtp._tls.backslash	IN TXT	"v=TLSRPTv1; rua=mailto:r@backslash.test; ext=a\\b"

; Bytes a record must not hold: DEL, UTF-8 (e acute), 0xFF.
_mta-sts.del		IN TXT	"v=STSv1; id=del1; ext=a\127b"
_smtp._tls.del		IN TXT	"v=TLSRPTv1; rua=mailto:r@del.test; ext=a\127b"
_mta-sts.utf8		IN TXT	"v=STSv1; id=utf1; ext=caf\195\169"
_smtp._tls.utf8		IN TXT	"v=TLSRPTv1; rua=mailto:r@utf8.test; ext=caf\195\169"
_mta-sts.ff		IN TXT	"v=STSv1; id=ff1; ext=\255"
_smtp._tls.ff		IN TXT	"v=TLSRPTv1; rua=mailto:r@ff.test; ext=\255"

; One record in several strings, split between fields and inside a token.
_mta-sts.split		IN TXT	"v=STSv1; " "id=split1"
_smtp._tls.split	IN TXT	"v=TLSRPTv1; " "rua=mailto:r@split.test"
_mta-sts.midtoken	IN TXT	"v=ST" "Sv1; i" "d=mid" "token1"
_smtp._tls.midtoken	IN TXT	"v=TLSR" "PTv1; rua=mai" "lto:r@midtoken.test"

; A string of 255 bytes, the most one string can hold.
_mta-sts.long		IN TXT	"%[2]s"
_smtp._tls.long		IN TXT	"%[3]s"

; Several records at the name: one is ours.
_mta-sts.several	IN TXT	"v=spf1 -all"
			IN TXT	"v=STSv1; id=several1"
			IN TXT	"google-site-verification=abc123"
_smtp._tls.several	IN TXT	"v=spf1 -all"
			IN TXT	"v=TLSRPTv1; rua=mailto:r@several.test"

; A bare version tag beside a valid record: not a record (RFC 8461 3.1
; keeps only strings that begin with "v=STSv1;").
_mta-sts.bare		IN TXT	"v=STSv1"
			IN TXT	"v=STSv1; id=bare1"
_smtp._tls.bare		IN TXT	"v=TLSRPTv1"
			IN TXT	"v=TLSRPTv1; rua=mailto:r@bare.test"

; Two records, the second with a tab before its ";": two records, so none.
_mta-sts.twotab		IN TXT	"v=STSv1; id=one1"
			IN TXT	"v=STSv1\009; id=two1"
_smtp._tls.twotab	IN TXT	"v=TLSRPTv1; rua=mailto:one@twotab.test"
			IN TXT	"v=TLSRPTv1\009; rua=mailto:two@twotab.test"

; CNAMEs, in the zone and to another zone.
_mta-sts.cname-in	IN CNAME _mta-sts.target
_smtp._tls.cname-in	IN CNAME _smtp._tls.target
_mta-sts.target		IN TXT	"v=STSv1; id=target1"
_smtp._tls.target	IN TXT	"v=TLSRPTv1; rua=mailto:r@target.test"
_mta-sts.cname-out	IN CNAME _mta-sts.policy.example.
_mta-sts.cname-lame	IN CNAME _mta-sts.lame.test.
_smtp._tls.cname-lame	IN CNAME _smtp._tls.lame.test.
_mta-sts.cname-nx	IN CNAME _mta-sts.absent.test.
_smtp._tls.cname-nx	IN CNAME _smtp._tls.absent.test.
_smtp._tls.cname-out	IN CNAME _smtp._tls.policy.example.

; NODATA: the names exist, with no TXT record.
_mta-sts.nodata		IN A	127.0.53.250
_smtp._tls.nodata	IN A	127.0.53.250

; A lame delegation.
lame			IN NS	ns.lame.test.
ns.lame			IN A	%[4]s

; A delegation to the parent zone's own server, which answers with the
; same referral: Unbound gives NOERROR and no answer (see TestDNS/servers).
_mta-sts.selfref	IN NS	ns1.test.

; A TXT RRset larger than 1232 bytes.
_mta-sts.big		IN TXT	"v=STSv1; id=big1"
`, nsdIP, longSTS, longRPT, lameIP)
	for _, f := range bigFiller() {
		fmt.Fprintf(&b, "\t\t\tIN TXT\t%q\n", f)
	}
	b.WriteString("_smtp._tls.big\t\tIN TXT\t\"v=TLSRPTv1; rua=mailto:r@big.test\"\n")
	for _, f := range bigFiller() {
		fmt.Fprintf(&b, "\t\t\tIN TXT\t%q\n", f)
	}
	b.WriteString(extra)
	return zoneFile{origin: "test.", text: b.String()}
}

// exampleZone returns the zone "example.", the other zone that CNAMEs
// point into.
func exampleZone() zoneFile {
	return zoneFile{origin: "example.", text: `$ORIGIN example.
$TTL 300
@			IN SOA	ns1.test. hostmaster.test. ( 2026120101 3600 600 86400 60 )
			IN NS	ns1.test.
_mta-sts.policy		IN TXT	"v=STSv1; id=elsewhere1"
_smtp._tls.policy	IN TXT	"v=TLSRPTv1; rua=mailto:r@policy.example"
`}
}

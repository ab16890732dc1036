package testserver

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// exchange sends one query for (name, qtype) to the world over netw ("udp"
// or "tcp") with a short timeout. edns > 0 adds an OPT record with that UDP
// size.
func exchange(t *testing.T, w *World, netw, name string, qtype uint16, edns uint16) (*dns.Msg, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: netw, Timeout: 300 * time.Millisecond}
	r, _, err := c.Exchange(m, w.DNSAddr())
	return r, err
}

func mustExchange(t *testing.T, w *World, netw, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := exchange(t, w, netw, name, qtype, 0)
	if err != nil {
		t.Fatalf("%s %s %s: %v", netw, name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestDNSRecords(t *testing.T) {
	w := Start(t)
	w.SetAddrs("host.example.test", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"))
	w.SetMX("example.test", "mx2.example.test", "mx1.example.test")
	w.SetTXT("_mta-sts.example.test", "v=STSv1; id=1", "other")
	w.SetTXT("long.example.test", strings.Repeat("a", 300))
	if err := w.AddRecords(`
_mta-sts.split.test. TXT "v=STSv1; " "id=2"
_25._tcp.mx1.example.test. 60 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`); err != nil {
		t.Fatal(err)
	}

	for _, netw := range []string{"udp", "tcp"} {
		t.Run(netw, func(t *testing.T) {
			r := mustExchange(t, w, netw, "host.example.test", dns.TypeA)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" || !r.Authoritative {
				t.Errorf("A: %v", r)
			}
			r = mustExchange(t, w, netw, "host.example.test", dns.TypeAAAA)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "::1" {
				t.Errorf("AAAA: %v", r)
			}
			r = mustExchange(t, w, netw, "example.test", dns.TypeMX)
			if len(r.Answer) != 2 || r.Answer[0].(*dns.MX).Mx != "mx2.example.test." || r.Answer[0].(*dns.MX).Preference != 10 || r.Answer[1].(*dns.MX).Preference != 20 {
				t.Errorf("MX: %v", r)
			}
			r = mustExchange(t, w, netw, "_mta-sts.example.test", dns.TypeTXT)
			if len(r.Answer) != 2 {
				t.Errorf("TXT: %v", r)
			}
			r = mustExchange(t, w, netw, "long.example.test", dns.TypeTXT)
			if len(r.Answer) != 1 || len(r.Answer[0].(*dns.TXT).Txt) != 2 {
				t.Errorf("long TXT not split in character-strings: %v", r)
			}
			r = mustExchange(t, w, netw, "_mta-sts.split.test", dns.TypeTXT)
			if len(r.Answer) != 1 || strings.Join(r.Answer[0].(*dns.TXT).Txt, "|") != "v=STSv1; |id=2" {
				t.Errorf("split TXT: %v", r)
			}
			r = mustExchange(t, w, netw, "_25._tcp.mx1.example.test", dns.TypeTLSA)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.TLSA).Selector != 1 || r.Answer[0].Header().Ttl != 60 {
				t.Errorf("TLSA: %v", r)
			}
		})
	}
}

func TestDNSNegative(t *testing.T) {
	w := Start(t)
	w.SetTXT("_mta-sts.example.test", "v=STSv1; id=1")
	tests := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
	}{
		{"nxdomain", "nothing.example.test", dns.TypeTXT, dns.RcodeNameError},
		{"nodata_other_type", "_mta-sts.example.test", dns.TypeA, dns.RcodeSuccess},
		{"nodata_empty_non_terminal", "example.test", dns.TypeTXT, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustExchange(t, w, "udp", tt.qname, tt.qtype)
			if r.Rcode != tt.rcode || len(r.Answer) != 0 {
				t.Errorf("got %s with %d answers, want %s and none", dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tt.rcode])
			}
		})
	}
}

func TestDNSNamesCaseInsensitive(t *testing.T) {
	w := Start(t)
	w.SetTXT("_MTA-STS.Example.Test", "v=STSv1; id=1")
	r := mustExchange(t, w, "udp", "_mta-sts.EXAMPLE.test.", dns.TypeTXT)
	if len(r.Answer) != 1 {
		t.Fatalf("no answer: %v", r)
	}
	if got := r.Answer[0].Header().Name; got != "_mta-sts.EXAMPLE.test." {
		t.Errorf("owner %q, want the question's spelling", got)
	}
	if n := w.Queries("_Mta-Sts.example.test", dns.TypeTXT); n != 1 {
		t.Errorf("Queries = %d, want 1", n)
	}
}

func TestDNSFaults(t *testing.T) {
	w := Start(t)
	const name = "_mta-sts.example.test"
	tests := []struct {
		name  string
		fault Fault
		rcode int
	}{
		{"servfail", ServFail, dns.RcodeServerFailure},
		{"refused", Refused, dns.RcodeRefused},
		{"nxdomain_despite_records", NXDomain, dns.RcodeNameError},
		{"nodata_despite_records", NoData, dns.RcodeSuccess},
		{"any_rcode", Rcode(dns.RcodeNotImplemented), dns.RcodeNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.SetTXT(name, "v=STSv1; id=1")
			w.Fault(name, tt.fault)
			for _, netw := range []string{"udp", "tcp"} {
				r := mustExchange(t, w, netw, name, dns.TypeTXT)
				if r.Rcode != tt.rcode || len(r.Answer) != 0 {
					t.Errorf("%s: got %s with %d answers, want %s and none", netw, dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tt.rcode])
				}
			}
			w.Fault(name)
			if r := mustExchange(t, w, "udp", name, dns.TypeTXT); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("after clearing the fault: %v", r)
			}
		})
	}
}

func TestDNSDrop(t *testing.T) {
	w := Start(t)
	w.SetTXT("_mta-sts.example.test", "v=STSv1; id=1")
	w.Fault("_mta-sts.example.test", Drop)
	for _, netw := range []string{"udp", "tcp"} {
		_, err := exchange(t, w, netw, "_mta-sts.example.test", dns.TypeTXT, 0)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: err = %v, want a timeout", netw, err)
		}
	}
	if n := w.Queries("_mta-sts.example.test", dns.TypeTXT); n != 2 {
		t.Errorf("dropped queries counted %d times, want 2", n)
	}
}

func TestDNSTruncate(t *testing.T) {
	w := Start(t)
	w.SetTXT("_mta-sts.example.test", "v=STSv1; id=1")
	w.Fault("_mta-sts.example.test", Truncate)
	r := mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT)
	if !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("udp: TC=%v with %d answers, want TC and none", r.Truncated, len(r.Answer))
	}
	r = mustExchange(t, w, "tcp", "_mta-sts.example.test", dns.TypeTXT)
	if r.Truncated || len(r.Answer) != 1 {
		t.Errorf("tcp: TC=%v with %d answers, want the full answer", r.Truncated, len(r.Answer))
	}
}

func TestDNSLargeAnswer(t *testing.T) {
	w := Start(t)
	var values []string
	for i := range 20 {
		values = append(values, strings.Repeat(string(rune('a'+i)), 100))
	}
	w.SetTXT("big.example.test", values...)

	r := mustExchange(t, w, "udp", "big.example.test", dns.TypeTXT)
	if !r.Truncated || len(r.Answer) == len(values) {
		t.Errorf("udp without EDNS: TC=%v with %d answers, want TC and fewer", r.Truncated, len(r.Answer))
	}
	r, err := exchange(t, w, "udp", "big.example.test", dns.TypeTXT, 4096)
	if err != nil || r.Truncated || len(r.Answer) != len(values) {
		t.Errorf("udp with EDNS 4096: %v, %v", r, err)
	}
	r = mustExchange(t, w, "tcp", "big.example.test", dns.TypeTXT)
	if r.Truncated || len(r.Answer) != len(values) || r.Len() <= 512 {
		t.Errorf("tcp: TC=%v with %d answers in %d bytes", r.Truncated, len(r.Answer), r.Len())
	}
}

func TestDNSDelay(t *testing.T) {
	w := Start(t)
	w.SetTXT("_mta-sts.example.test", "v=STSv1; id=1")
	const d = 100 * time.Millisecond
	w.Fault("_mta-sts.example.test", DNSDelay(d), ServFail)
	start := time.Now()
	r := mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT)
	if el := time.Since(start); el < d {
		t.Errorf("answered after %v, want at least %v", el, d)
	}
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s, want the delayed SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

func TestDNSCNAME(t *testing.T) {
	w := Start(t)
	w.SetCNAME("_mta-sts.example.test", "_mta-sts.hop1.test")
	w.SetCNAME("_mta-sts.hop1.test", "_mta-sts.provider.test")
	w.SetTXT("_mta-sts.provider.test", "v=STSv1; id=1")
	w.SetCNAME("loop1.test", "loop2.test")
	w.SetCNAME("loop2.test", "loop1.test")
	w.SetCNAME("dangling.test", "nowhere.test")

	r := mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT)
	if len(r.Answer) != 3 || r.Answer[2].Header().Rrtype != dns.TypeTXT {
		t.Errorf("chain: %v", r)
	}
	r = mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeCNAME)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.CNAME).Target != "_mta-sts.hop1.test." {
		t.Errorf("CNAME query: %v", r)
	}
	r = mustExchange(t, w, "udp", "loop1.test", dns.TypeTXT)
	if len(r.Answer) != 2 || r.Rcode != dns.RcodeSuccess {
		t.Errorf("loop: %v", r)
	}
	r = mustExchange(t, w, "udp", "dangling.test", dns.TypeTXT)
	if len(r.Answer) != 1 || r.Rcode != dns.RcodeNameError {
		t.Errorf("dangling: %v", r)
	}
	w.Fault("_mta-sts.example.test", CNAMEOnly)
	r = mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.CNAME).Target != "_mta-sts.hop1.test." || r.Rcode != dns.RcodeSuccess {
		t.Errorf("CNAMEOnly: %v", r)
	}
	w.SetCNAME("loop1.test", "")
	if r := mustExchange(t, w, "udp", "loop1.test", dns.TypeCNAME); len(r.Answer) != 0 {
		t.Errorf("removed CNAME still there: %v", r)
	}
}

func TestAddRecordsError(t *testing.T) {
	w := Start(t)
	if err := w.AddRecords("x.test. IN TXT"); err == nil {
		t.Error("no error for a record without data")
	}
}

func TestDNSOnlyType(t *testing.T) {
	w := Start(t)
	w.SetAddrs("mta-sts.example.test", netip.MustParseAddr("127.0.0.1"))
	w.Fault("mta-sts.example.test", OnlyType{dns.TypeAAAA, ServFail})
	if r := mustExchange(t, w, "udp", "mta-sts.example.test", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("A: %v", r)
	}
	if r := mustExchange(t, w, "udp", "mta-sts.example.test", dns.TypeAAAA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("AAAA: %v", r)
	}
}

func TestDNSSetRecordsAndRemove(t *testing.T) {
	w := Start(t)
	w.SetRecords("_mta-sts.Example.test", dns.TypeTXT, &dns.TXT{Txt: []string{"v=STSv1;", " id=1"}})
	r := mustExchange(t, w, "tcp", "_mta-sts.example.test", dns.TypeTXT)
	if len(r.Answer) != 1 || strings.Join(r.Answer[0].(*dns.TXT).Txt, "|") != "v=STSv1;| id=1" || r.Answer[0].Header().Name != "_mta-sts.example.test." {
		t.Errorf("TXT %v", r.Answer)
	}
	if w.Queries("_mta-sts.example.test", dns.TypeTXT) != 1 {
		t.Error("query not counted")
	}
	w.ResetQueries()
	if w.Queries("_mta-sts.example.test", dns.TypeTXT) != 0 {
		t.Error("counter not reset")
	}
	w.RemoveName("_mta-sts.example.test")
	if r := mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Errorf("removed name: %v", r)
	}
}

func TestDNSReferralAndLame(t *testing.T) {
	w := Start(t)
	w.SetTXT("_mta-sts.example.test", "v=STSv1; id=1")
	w.Fault("_mta-sts.example.test", Referral)
	r := mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || r.Authoritative || r.RecursionAvailable ||
		len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeNS {
		t.Errorf("referral: %v", r)
	}
	w.Fault("_mta-sts.example.test", Lame)
	r = mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || r.Authoritative || r.RecursionAvailable || len(r.Ns) != 0 {
		t.Errorf("lame: %v", r)
	}
}

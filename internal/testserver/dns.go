package testserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const (
	// defaultTTL is the TTL of records made by the helpers.
	defaultTTL = 300
	// maxCNAMEHops bounds the CNAME chain the server follows in one answer,
	// as an authoritative server does within its zone.
	maxCNAMEHops = 16
	// bindAttempts bounds the search for a port free for both UDP and TCP.
	bindAttempts = 20
)

type rrKey struct {
	name  string // canonical
	qtype uint16
}

// startDNS binds UDP and TCP on one port and serves both.
func (w *World) startDNS() error {
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range bindAttempts {
		pc, err = net.ListenPacket("udp", netip.AddrPortFrom(w.ip, 0).String())
		if err != nil {
			return fmt.Errorf("testserver: dns: %w", err)
		}
		ln, err = w.listen(int(pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()))
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return fmt.Errorf("testserver: dns: %w", err)
	}
	w.dnsAddr = ln.Addr().String()
	h := dns.HandlerFunc(w.serveDNS)
	w.dnsUDP = &dns.Server{PacketConn: pc, Handler: h}
	w.dnsTCP = &dns.Server{Listener: ln, Handler: h}
	for _, s := range []*dns.Server{w.dnsUDP, w.dnsTCP} {
		started := make(chan struct{})
		failed := make(chan error, 1)
		s.NotifyStartedFunc = func() { close(started) }
		w.goTracked(func() { failed <- s.ActivateAndServe() })
		select {
		case <-started:
		case err := <-failed:
			if s == w.dnsUDP {
				w.dnsUDP = nil
				ln.Close()
			}
			w.dnsTCP = nil
			return fmt.Errorf("testserver: dns: %w", err)
		}
	}
	return nil
}

// DNSAddr returns the host:port of the DNS server, for UDP and TCP alike.
func (w *World) DNSAddr() string { return w.dnsAddr }

// Queries reports how many queries for (name, qtype) the DNS server has
// received, faulty ones and TCP retries included. qtype is a dns.Type*
// value.
func (w *World) Queries(name string, qtype uint16) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queries[rrKey{canon(name), qtype}]
}

// ResetQueries sets every query counter back to zero.
func (w *World) ResetQueries() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.queries)
}

// SetRecords replaces the records of type qtype at name with rrs, whose
// owner names are rewritten to name; no rrs removes them.
func (w *World) SetRecords(name string, qtype uint16, rrs ...dns.RR) {
	name = canon(name)
	cp := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		rr = dns.Copy(rr)
		rr.Header().Name = name
		rr.Header().Rrtype = qtype
		rr.Header().Class = dns.ClassINET
		cp = append(cp, rr)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setLocked(name, qtype, cp)
}

func (w *World) setLocked(name string, qtype uint16, rrs []dns.RR) {
	if len(rrs) == 0 {
		delete(w.zone, rrKey{name, qtype})
		return
	}
	w.zone[rrKey{name, qtype}] = rrs
}

// AddRecords adds the records of zone, text in the master file format of
// RFC 1035 (relative names are relative to the root), to those already
// there. It is the way to add any record type, for example
//
//	_25._tcp.mx1.example.test. 300 IN TLSA 3 1 1 8f0e...
//	_mta-sts.example.test. TXT "v=STSv1; " "id=20240101"
func (w *World) AddRecords(zone string) error {
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	zp.SetDefaultTTL(defaultTTL)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("testserver: records: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, rr := range rrs {
		h := rr.Header()
		h.Name = canon(h.Name)
		k := rrKey{h.Name, h.Rrtype}
		w.zone[k] = append(w.zone[k], rr)
	}
	return nil
}

// RemoveName removes every record at name.
func (w *World) RemoveName(name string) {
	name = canon(name)
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.zone {
		if k.name == name {
			delete(w.zone, k)
		}
	}
}

// SetTXT replaces the TXT records at name, one record per value. A value
// is the bytes of the record as published, any bytes at all (a tab, a quote,
// a backslash, UTF-8, 0xFF): what a client decodes from the wire must be
// exactly the value. A value longer than 255 bytes is split into
// character-strings of 255 bytes (the last shorter). No values removes them.
func (w *World) SetTXT(name string, values ...string) {
	records := make([][]string, 0, len(values))
	for _, v := range values {
		var parts []string
		for len(v) > maxCharString {
			parts = append(parts, v[:maxCharString])
			v = v[maxCharString:]
		}
		records = append(records, append(parts, v))
	}
	w.SetTXTStrings(name, records...)
}

// SetTXTStrings replaces the TXT records at name, one record per element of
// records, each made of the character-strings given, as raw bytes, so that
// a test can split a record anywhere, even inside a token. A string longer
// than 255 bytes, which no character-string can hold, is split as SetTXT
// splits. No records removes them.
func (w *World) SetTXTStrings(name string, records ...[]string) {
	name = canon(name)
	rrs := make([]dns.RR, 0, len(records))
	for _, strs := range records {
		txt := &dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: make([]string, 0, len(strs))}
		for _, s := range strs {
			for len(s) > maxCharString {
				txt.Txt = append(txt.Txt, presentTXT(s[:maxCharString]))
				s = s[maxCharString:]
			}
			txt.Txt = append(txt.Txt, presentTXT(s))
		}
		rrs = append(rrs, txt)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setLocked(name, dns.TypeTXT, rrs)
}

// maxCharString is the capacity of a DNS character-string (RFC 1035
// section 3.3).
const maxCharString = 255

// presentTXT returns the raw bytes s in the presentation format that
// miekg/dns keeps in dns.TXT.Txt and encodes onto the wire: a backslash and
// a quote escaped, every byte outside printable ASCII as \DDD. Packing the
// result gives s again, byte for byte.
func presentTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// SetAddrs replaces the A and AAAA records at name with addrs, each in the
// type of its family. No addrs removes both.
func (w *World) SetAddrs(name string, addrs ...netip.Addr) {
	name = canon(name)
	var a, aaaa []dns.RR
	for _, ip := range addrs {
		ip = ip.Unmap()
		if ip.Is4() {
			a = append(a, &dns.A{Hdr: hdr(name, dns.TypeA), A: ip.AsSlice()})
		} else {
			aaaa = append(aaaa, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setLocked(name, dns.TypeA, a)
	w.setLocked(name, dns.TypeAAAA, aaaa)
}

// SetMX replaces the MX records at name with hosts, preferences 10, 20, ...
// in the order given. No hosts removes them.
func (w *World) SetMX(name string, hosts ...string) {
	name = canon(name)
	rrs := make([]dns.RR, 0, len(hosts))
	for i, h := range hosts {
		rrs = append(rrs, &dns.MX{Hdr: hdr(name, dns.TypeMX), Preference: uint16(10 * (i + 1)), Mx: canon(h)})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setLocked(name, dns.TypeMX, rrs)
}

// SetCNAME makes name an alias of target, replacing any CNAME there; an
// empty target removes it. Chains and loops are allowed: the server follows
// a chain within the world for at most 16 hops, stopping at the first name
// seen twice.
func (w *World) SetCNAME(name, target string) {
	name = canon(name)
	var rrs []dns.RR
	if target != "" {
		rrs = []dns.RR{&dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: canon(target)}}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setLocked(name, dns.TypeCNAME, rrs)
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: defaultTTL}
}

// serveDNS answers one query: faults first, then the zone. UDP answers are
// truncated (TC bit) to 512 bytes, or to the EDNS0 size of the query.
func (w *World) serveDNS(rw dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	if len(req.Question) != 1 {
		m.SetRcodeFormatError(req)
		rw.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := canon(q.Name)
	_, udp := rw.RemoteAddr().(*net.UDPAddr)

	w.mu.Lock()
	w.queries[rrKey{name, q.Qtype}]++
	faults := w.faultsOf(name, layerDNS)
	w.mu.Unlock()

	m.SetReply(req)
	m.Authoritative = true
	answer, chase := true, true
	var bad *Bogus
	for _, f := range faults {
		if o, ok := f.(OnlyType); ok {
			if o.Type != q.Qtype {
				continue
			}
			f = o.Fault
		}
		switch f := f.(type) {
		case Bogus:
			bad, answer = &f, false
		case DNSDelay:
			if !w.sleep(context.Background(), time.Duration(f)) {
				return
			}
		case Rcode:
			m.Rcode, answer = int(f), false
		case DNSFault:
			switch f {
			case Drop:
				return
			case ServFail:
				m.Rcode, answer = dns.RcodeServerFailure, false
			case Refused:
				m.Rcode, answer = dns.RcodeRefused, false
			case NXDomain:
				m.Rcode, answer = dns.RcodeNameError, false
			case NoData:
				m.Rcode, answer = dns.RcodeSuccess, false
			case Truncate:
				if udp {
					m.Truncated, answer = true, false
				}
			case CNAMEOnly:
				chase = false
			case Referral:
				m.Authoritative, answer = false, false
				m.Ns = []dns.RR{&dns.NS{Hdr: hdr(name, dns.TypeNS), Ns: "ns1.delegated.invalid."}}
			case Lame:
				m.Authoritative, answer = false, false
			}
		}
	}
	if answer {
		m.AuthenticatedData = w.answer(m, name, q, chase) && wantsDNSSEC(req)
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(size, int(opt.UDPSize()))
		m.SetEdns0(uint16(size), opt.Do())
	}
	if bad != nil {
		bogus(m, *bad)
	}
	if udp {
		m.Truncate(size)
	}
	// A client that went away is no concern of the world.
	_ = rw.WriteMsg(m)
}

// answer fills m from the zone, following CNAMEs if chase is set, and
// reports whether every name of the answer lies in a secure zone
// (SetSecure).
func (w *World) answer(m *dns.Msg, name string, q dns.Question, chase bool) (secure bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{name: true}
	cur := name
	secure = true
	defer func() { secure = secure && w.secureLocked(cur) }()
	for range maxCNAMEHops {
		if rrs := w.zone[rrKey{cur, q.Qtype}]; len(rrs) > 0 {
			m.Answer = append(m.Answer, copyRRs(rrs, cur, name, q.Name)...)
			return
		}
		c := w.zone[rrKey{cur, dns.TypeCNAME}]
		if q.Qtype == dns.TypeCNAME || len(c) == 0 {
			break
		}
		m.Answer = append(m.Answer, copyRRs(c[:1], cur, name, q.Name)...)
		secure = secure && w.secureLocked(cur)
		cur = canon(c[0].(*dns.CNAME).Target)
		if seen[cur] || !chase {
			return
		}
		seen[cur] = true
	}
	if !w.existsLocked(cur) {
		m.Rcode = dns.RcodeNameError
	}
	return secure
}

// copyRRs copies rrs, giving the records owned by the query name the
// spelling of the question (a client may randomise case).
func copyRRs(rrs []dns.RR, owner, qname, spelled string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		if owner == qname {
			out[i].Header().Name = spelled
		}
	}
	return out
}

// existsLocked reports whether name has records or is an empty
// non-terminal (a name below it has records).
func (w *World) existsLocked(name string) bool {
	for k := range w.zone {
		if k.name == name || strings.HasSuffix(k.name, "."+name) {
			return true
		}
	}
	return false
}

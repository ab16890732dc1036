// Package dnsclient asks DNS servers the questions of MTA-STS and of mail
// delivery: TXT records (joined per record, as RFC 8461 section 3.1 and RFC
// 8460 section 3 require), addresses and MX records, following CNAMEs. It
// asks the servers it is given, in order, so that a resolver, the example
// commands and a test world all see one and the same DNS.
//
// TXT strings are returned as the bytes published, not in the presentation
// format in which miekg/dns keeps them (\DDD, \", \\), and MX targets
// that no host name can spell (a dot inside a label) are skipped with an
// error: every parser downstream sees what the zone holds.
//
// A name that does not exist, or has no record of the type asked for, is
// not an error: the lookup returns no records. Every failure is an *Error.
package dnsclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// MaxCNAMEHops bounds how many CNAMEs a lookup follows, loops included.
const MaxCNAMEHops = 8

// DefaultTimeout bounds one query to one server when New is given 0.
const DefaultTimeout = 5 * time.Second

// ednsSize is the UDP payload size advertised with EDNS0: large enough for
// most TXT answers, small enough to avoid IP fragmentation (DNS flag day
// 2020).
const ednsSize = 1232

// Errors an *Error wraps.
var (
	ErrServFail  = errors.New("server failure")
	ErrRefused   = errors.New("query refused")
	ErrCNAMELoop = errors.New("CNAME chain longer than 8 or looping")
	ErrNoServers = errors.New("no DNS servers configured")
	ErrNoAddress = errors.New("no addresses")
	ErrBadName   = errors.New("not a host name")
	// ErrBogus: a validating server answered SERVFAIL with an Extended
	// DNS Error (RFC 8914) saying DNSSEC validation failed (codes 6 to
	// 12: bogus, signature expired or not yet valid, DNSKEY or RRSIGs
	// missing, no zone key bit, NSEC missing). Always wrapped with
	// ErrServFail.
	ErrBogus = errors.New("DNSSEC validation failed")
	// ErrNotRecursive: an empty answer from a server neither authoritative
	// nor recursive for the name (a referral or a lame delegation).
	ErrNotRecursive = errors.New("referral or lame answer: the server does not resolve the name")
)

// Error reports a failed DNS lookup. Temporary is true when the answer is
// unknown (SERVFAIL, REFUSED, a timeout, no server reachable), false when
// the DNS is known to be broken for the name (a CNAME loop).
type Error struct {
	Name      string // the name queried, without the trailing dot
	Type      string // "TXT", "A", ...
	Temporary bool
	Err       error
}

// Error describes the failed lookup.
func (e *Error) Error() string {
	return fmt.Sprintf("dns: %s lookup of %s: %v", e.Type, e.Name, e.Err)
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Client sends queries to a list of servers, in order. It is safe for
// concurrent use.
type Client struct {
	servers []string
	udp     dns.Client
	tcp     dns.Client
	dnssec  bool // see WithDNSSEC
}

// New returns a client of servers ("host:port", in order), each query to
// one server bounded by timeout (DefaultTimeout if 0).
func New(servers []string, timeout time.Duration) *Client {
	timeout = cmp.Or(timeout, DefaultTimeout)
	return &Client{
		servers: slices.Clone(servers),
		udp:     dns.Client{Net: "udp", Timeout: timeout, UDPSize: ednsSize},
		tcp:     dns.Client{Net: "tcp", Timeout: timeout},
	}
}

// Servers returns the client's servers.
func (c *Client) Servers() []string { return slices.Clone(c.servers) }

// SystemServers returns the name servers of a resolv.conf file, such as
// /etc/resolv.conf.
func SystemServers(path string) ([]string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	return out, nil
}

// ParseServers parses a comma-separated list of host[:port] (port 53 when
// absent), as command-line flags give it.
func ParseServers(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, "53")
		}
		out = append(out, a)
	}
	return out
}

// Lookup returns the records of type qtype (a dns.Type* value) at name,
// following CNAMEs for at most MaxCNAMEHops.
func (c *Client) Lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	a, err := c.lookup(ctx, name, qtype)
	return a.RRs, err
}

// Answer is the outcome of a lookup in DNSSEC mode (LookupSecure).
type Answer struct {
	RRs []dns.RR
	// Name is the name that owns the records, or whose denial ended the
	// lookup: the query name after every CNAME, lower case, without the
	// trailing dot.
	Name string
	// Exists is false for a name that does not exist (NXDOMAIN) or has no
	// record of the type (NODATA).
	Exists bool
	// Secure is true when every response of the lookup, one per CNAME
	// hop the server did not answer in one go, had the AD bit set: the
	// servers validated the whole chain, or the denial, by DNSSEC. It is
	// false for a client without WithDNSSEC.
	Secure bool
}

// LookupSecure is Lookup that also reports the DNSSEC status of the
// answer and the name it ended at. Only a client made by WithDNSSEC asks
// the servers to validate; for any other, Secure is always false.
//
// A SERVFAIL from a validating server means the answer is bogus or could
// not be validated (RFC 4035 section 5.5): the *Error wraps ErrServFail,
// and also ErrBogus when the server said so with an Extended DNS Error
// (RFC 8914 codes 6 to 12).
func (c *Client) LookupSecure(ctx context.Context, name string, qtype uint16) (Answer, error) {
	return c.lookup(ctx, name, qtype)
}

func (c *Client) lookup(ctx context.Context, name string, qtype uint16) (Answer, error) {
	cur := dns.Fqdn(strings.ToLower(name))
	hops := 0
	secure := c.dnssec
	ans := func(rrs []dns.RR) Answer {
		return Answer{RRs: rrs, Name: strings.TrimSuffix(cur, "."), Exists: len(rrs) > 0, Secure: secure}
	}
	for {
		asked := cur
		msg, err := c.exchange(ctx, asked, qtype)
		if err != nil {
			return Answer{}, &Error{Name: strings.TrimSuffix(name, "."), Type: dns.TypeToString[qtype], Temporary: true, Err: err}
		}
		secure = secure && msg.AuthenticatedData
		// Follow the chain through this answer: a recursive server usually
		// includes every CNAME and the final records.
		for {
			rrs, next := answersFor(msg, cur, qtype)
			if len(rrs) > 0 {
				return ans(rrs), nil
			}
			if next == "" {
				break
			}
			if hops++; hops > MaxCNAMEHops {
				return Answer{}, &Error{Name: strings.TrimSuffix(name, "."), Type: dns.TypeToString[qtype], Err: ErrCNAMELoop}
			}
			cur = next
		}
		if msg.Rcode == dns.RcodeNameError {
			return ans(nil), nil
		}
		if cur == asked {
			if notResolved(msg) {
				return Answer{}, &Error{Name: strings.TrimSuffix(name, "."), Type: dns.TypeToString[qtype], Temporary: true, Err: ErrNotRecursive}
			}
			return ans(nil), nil // NODATA
		}
		// The answer stopped at a CNAME target: ask for it.
	}
}

// notResolved reports whether msg, a NOERROR answer with no records for the
// name, comes from a server that did not resolve the name: one that is not
// authoritative and either offers no recursion (a lame delegation) or
// refers the client elsewhere (NS records, and no SOA, in the authority
// section). Such an answer says nothing of whether records exist; reading
// it as NODATA would make a broken delegation look like "no policy".
func notResolved(msg *dns.Msg) bool {
	if msg.Authoritative {
		return false
	}
	if !msg.RecursionAvailable {
		return true
	}
	ns, soa := false, false
	for _, rr := range msg.Ns {
		switch rr.Header().Rrtype {
		case dns.TypeNS:
			ns = true
		case dns.TypeSOA:
			soa = true
		}
	}
	return ns && !soa
}

// answersFor returns the records of type qtype owned by name in msg, or else
// the target of a CNAME owned by name.
func answersFor(msg *dns.Msg, name string, qtype uint16) (rrs []dns.RR, cname string) {
	for _, rr := range msg.Answer {
		h := rr.Header()
		if !strings.EqualFold(h.Name, name) {
			continue
		}
		if h.Rrtype == qtype {
			rrs = append(rrs, rr)
		} else if cn, ok := rr.(*dns.CNAME); ok {
			cname = strings.ToLower(cn.Target)
		}
	}
	return rrs, cname
}

// exchange asks each server in turn until one answers with NOERROR or
// NXDOMAIN. A truncated UDP answer is asked again over TCP.
func (c *Client) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	if len(c.servers) == 0 {
		return nil, ErrNoServers
	}
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.SetEdns0(ednsSize, c.dnssec)
	// RFC 6840 section 5.7: AD=1 asks a validating server for the AD
	// bit; CD stays clear, so that the server withholds bogus answers.
	q.AuthenticatedData = c.dnssec
	var last error
	for _, srv := range c.servers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msg, err := exchangeOne(ctx, &c.udp, q, srv)
		if err == nil && msg.Truncated {
			msg, err = exchangeOne(ctx, &c.tcp, q, srv)
		}
		if err != nil {
			last = err
			continue
		}
		switch msg.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return msg, nil
		case dns.RcodeRefused:
			last = ErrRefused
		case dns.RcodeServerFailure:
			last = servFail(msg)
		default:
			last = fmt.Errorf("response code %s", dns.RcodeToString[msg.Rcode])
		}
	}
	return nil, last
}

// exchangeOne sends q to srv and reads the answer. miekg/dns obeys only a
// context's deadline; closing the connection when ctx is cancelled makes a
// cancelled lookup (and a closing resolver) return at once.
func exchangeOne(ctx context.Context, c *dns.Client, q *dns.Msg, srv string) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, srv)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	msg, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return msg, err
}

// TXT returns the TXT records at name, each record's character-strings
// joined without spaces: the bytes as published, whatever they are (a tab,
// a quote, a backslash, bytes that are not US-ASCII), for the record
// parsers to judge.
func (c *Client) TXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := c.Lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, joinTXT(rr.(*dns.TXT).Txt))
	}
	return out, nil
}

// Addrs returns the addresses of host of type qtype (dns.TypeA or
// dns.TypeAAAA).
func (c *Client) Addrs(ctx context.Context, host string, qtype uint16) ([]netip.Addr, error) {
	rrs, err := c.Lookup(ctx, host, qtype)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range rrs {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// AllAddrs returns the IPv4 then the IPv6 addresses of host. It fails only
// when neither lookup gives an address and one of them failed.
func (c *Client) AllAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	v4, err4 := c.Addrs(ctx, host, dns.TypeA)
	v6, err6 := c.Addrs(ctx, host, dns.TypeAAAA)
	out := append(v4, v6...)
	if len(out) == 0 {
		if err := cmp.Or(err4, err6); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MX is one mail exchanger of a domain.
type MX struct {
	Host string // lower case, without the trailing dot; "" for a null MX (RFC 7505)
	Pref uint16
}

// MX returns the MX records of domain, most preferred first (in the order
// of the answer among equal preferences).
//
// A record whose target cannot be a host name, because a label holds a byte
// no host name may hold (mx\.evil.example: a dot inside a label), is
// skipped: MX then returns the other records together with a *Error
// wrapping ErrBadName, which names the first such target, as
// net.Resolver.LookupMX does.
func (c *Client) MX(ctx context.Context, domain string) ([]MX, error) {
	rrs, err := c.Lookup(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]MX, 0, len(rrs))
	var bad error
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		if isNullMX(mx.Mx) {
			out = append(out, MX{Pref: mx.Preference})
			continue
		}
		h, ok := hostName(mx.Mx)
		if !ok {
			if bad == nil {
				bad = &Error{Name: strings.TrimSuffix(domain, "."), Type: "MX",
					Err: fmt.Errorf("%w: %q (a label holds a dot or a byte no host name may hold)", ErrBadName, mx.Mx)}
			}
			continue
		}
		out = append(out, MX{Host: h, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return out, bad
}

// FromFlag returns a client for a command's -dns flag: the servers of list
// (see ParseServers), or, when list is empty, those of /etc/resolv.conf.
func FromFlag(list string, timeout time.Duration) (*Client, error) {
	if list == "" {
		servers, err := SystemServers("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
		return New(servers, timeout), nil
	}
	servers := ParseServers(list)
	if len(servers) == 0 {
		return nil, ErrNoServers
	}
	return New(servers, timeout), nil
}

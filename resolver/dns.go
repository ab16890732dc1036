package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxCNAMEHops bounds how many CNAMEs a lookup follows (DESIGN §3).
const maxCNAMEHops = 8

// ednsSize is the UDP payload size advertised with EDNS0: large enough for
// most TXT answers, small enough to avoid IP fragmentation (DNS flag day
// 2020).
const ednsSize = 1232

// DNSError reports a failed DNS lookup. Temporary is true when the answer
// is unknown (SERVFAIL, REFUSED, a timeout, no server reachable), false when
// the DNS itself is broken for the name (a CNAME loop, a malformed answer).
// A name that does not exist or has no record of the type is not an error.
type DNSError struct {
	Name      string // the name queried, without the trailing dot
	Type      string // "TXT", "A", ...
	Temporary bool
	Err       error
}

func (e *DNSError) Error() string {
	return fmt.Sprintf("resolver: %s lookup of %s: %v", e.Type, e.Name, e.Err)
}

func (e *DNSError) Unwrap() error { return e.Err }

// Errors a DNSError wraps.
var (
	errServFail  = errors.New("server failure")
	errRefused   = errors.New("query refused")
	errCNAMELoop = errors.New("CNAME chain longer than 8 or looping")
	errNoServers = errors.New("no DNS servers configured")
	errNoAddress = errors.New("no addresses")
)

// dnsClient sends queries to a list of servers, in order.
type dnsClient struct {
	servers []string
	udp     dns.Client
	tcp     dns.Client
}

func newDNSClient(servers []string, timeout time.Duration) *dnsClient {
	return &dnsClient{
		servers: servers,
		udp:     dns.Client{Net: "udp", Timeout: timeout, UDPSize: ednsSize},
		tcp:     dns.Client{Net: "tcp", Timeout: timeout},
	}
}

// systemServers reads the name servers of /etc/resolv.conf.
func systemServers(path string) ([]string, error) {
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

// lookup returns the records of type qtype at name (a lower-case FQDN
// without the trailing dot), following CNAMEs. A name that does not exist,
// or has no such records, gives no records and no error.
func (c *dnsClient) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	cur := dns.Fqdn(name)
	hops := 0
	for {
		asked := cur
		msg, err := c.exchange(ctx, asked, qtype)
		if err != nil {
			return nil, &DNSError{Name: name, Type: dns.TypeToString[qtype], Temporary: true, Err: err}
		}
		if msg.Rcode == dns.RcodeNameError {
			return nil, nil
		}
		// Follow the chain through this answer: a recursive server usually
		// includes every CNAME and the final records.
		for {
			rrs, next := answersFor(msg, cur, qtype)
			if len(rrs) > 0 {
				return rrs, nil
			}
			if next == "" {
				break
			}
			if hops++; hops > maxCNAMEHops {
				return nil, &DNSError{Name: name, Type: dns.TypeToString[qtype], Err: errCNAMELoop}
			}
			cur = next
		}
		if cur == asked {
			return nil, nil // NODATA
		}
		// The answer stopped at a CNAME target: ask for it.
	}
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
func (c *dnsClient) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	if len(c.servers) == 0 {
		return nil, errNoServers
	}
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.SetEdns0(ednsSize, false)
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
			last = errRefused
		case dns.RcodeServerFailure:
			last = errServFail
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

// lookupTXT returns the TXT records at name, each record's strings joined
// without spaces (RFC 8461 section 3.1).
func (c *dnsClient) lookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := c.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// addrs returns the addresses of host of type qtype (A or AAAA).
func (c *dnsClient) addrs(ctx context.Context, host string, qtype uint16) ([]netip.Addr, error) {
	rrs, err := c.lookup(ctx, host, qtype)
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

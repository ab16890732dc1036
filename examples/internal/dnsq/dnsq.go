// Package dnsq asks DNS servers the few questions the example programs need
// beyond what the resolver asks itself: MX records to deliver to, the
// addresses of MX hosts to dial, and TXT records to lint. It asks the servers
// it is given (the loopback world in tests, the -dns flag of a command), so
// that a command and the resolver it embeds see one and the same DNS.
package dnsq

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

// maxCNAMEHops bounds how many CNAMEs a lookup follows.
const maxCNAMEHops = 8

// DefaultTimeout bounds one query to one server when Client.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Errors that an *Error wraps.
var (
	ErrServFail  = errors.New("server failure")
	ErrRefused   = errors.New("query refused")
	ErrCNAMELoop = errors.New("CNAME chain too long or looping")
	ErrNoServers = errors.New("no DNS servers")
)

// Error reports a lookup that got no usable answer. A name that does not
// exist, or has no record of the type asked for, is not an error: the
// lookup returns no records.
type Error struct {
	Name string // the name asked for, without the trailing dot
	Type string // "MX", "TXT", ...
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("dns: %s lookup of %s: %v", e.Type, e.Name, e.Err) }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the answer is unknown (a server failure, a
// refusal, a timeout) rather than known to be broken (a CNAME loop).
func (e *Error) Temporary() bool { return !errors.Is(e.Err, ErrCNAMELoop) }

// Client sends queries to Servers in order until one answers. Its zero
// value has no servers: use New or set Servers.
type Client struct {
	Servers []string      // "host:port", in order
	Timeout time.Duration // per query and server; DefaultTimeout if 0
}

// New returns a client for the servers in list, comma-separated host[:port]
// values (port 53 if absent), or, when list is empty, for the servers of
// /etc/resolv.conf.
func New(list string, timeout time.Duration) (*Client, error) {
	c := &Client{Timeout: timeout}
	if list == "" {
		cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
		for _, s := range cfg.Servers {
			c.Servers = append(c.Servers, net.JoinHostPort(s, cfg.Port))
		}
		return c, nil
	}
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, "53")
		}
		c.Servers = append(c.Servers, a)
	}
	return c, nil
}

// MX is one mail exchanger of a domain.
type MX struct {
	Host string // lower case, without the trailing dot; "" for a null MX (RFC 7505)
	Pref uint16
}

// MX returns the MX records of domain, most preferred first (in the order
// of the answer among equal preferences).
func (c *Client) MX(ctx context.Context, domain string) ([]MX, error) {
	rrs, err := c.Lookup(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, MX{Host: strings.TrimSuffix(strings.ToLower(mx.Mx), "."), Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return out, nil
}

// TXT returns the TXT records at name, each record's character-strings
// joined without spaces.
func (c *Client) TXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := c.Lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// Addrs returns the IPv4 then the IPv6 addresses of host. It fails only
// when neither lookup gives an address and one of them failed.
func (c *Client) Addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	var firstErr error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := c.Lookup(ctx, host, qtype)
		if err != nil && firstErr == nil {
			firstErr = err
		}
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
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// Lookup returns the records of type qtype (a dns.Type* value) at name,
// following CNAMEs for at most 8 hops.
func (c *Client) Lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	fail := func(err error) error { return &Error{Name: name, Type: dns.TypeToString[qtype], Err: err} }
	cur := dns.Fqdn(strings.ToLower(name))
	for range maxCNAMEHops + 1 {
		msg, err := c.exchange(ctx, cur, qtype)
		if err != nil {
			return nil, fail(err)
		}
		if msg.Rcode == dns.RcodeNameError {
			return nil, nil
		}
		var rrs []dns.RR
		next := ""
		for _, rr := range msg.Answer {
			h := rr.Header()
			switch {
			case !strings.EqualFold(h.Name, cur):
			case h.Rrtype == qtype:
				rrs = append(rrs, rr)
			case h.Rrtype == dns.TypeCNAME:
				next = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		if len(rrs) > 0 || next == "" {
			return rrs, nil
		}
		cur = next
	}
	return nil, fail(ErrCNAMELoop)
}

// exchange asks each server in turn until one answers NOERROR or NXDOMAIN;
// a truncated UDP answer is asked again over TCP.
func (c *Client) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	if len(c.Servers) == 0 {
		return nil, ErrNoServers
	}
	timeout := cmp.Or(c.Timeout, DefaultTimeout)
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.SetEdns0(1232, false)
	var last error
	for _, srv := range c.Servers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msg, err := exchangeOne(ctx, &dns.Client{Net: "udp", Timeout: timeout, UDPSize: 1232}, q, srv)
		if err == nil && msg.Truncated {
			msg, err = exchangeOne(ctx, &dns.Client{Net: "tcp", Timeout: timeout}, q, srv)
		}
		switch {
		case err != nil:
			last = err
		case msg.Rcode == dns.RcodeSuccess || msg.Rcode == dns.RcodeNameError:
			return msg, nil
		case msg.Rcode == dns.RcodeServerFailure:
			last = ErrServFail
		case msg.Rcode == dns.RcodeRefused:
			last = ErrRefused
		default:
			last = fmt.Errorf("response code %s", dns.RcodeToString[msg.Rcode])
		}
	}
	return nil, last
}

// exchangeOne sends q to srv; the connection is closed when ctx is done, so
// that a cancelled lookup returns at once.
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

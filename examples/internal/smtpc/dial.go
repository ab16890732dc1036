package smtpc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
)

// Overrides maps MX host names to the addresses to dial instead of the
// host's addresses on port 25. It is a flag.Value for the -smtp-addr flag of
// the commands, set once per host:
//
//	-smtp-addr mx1.example.test=127.0.0.1:2525   dial this address
//	-smtp-addr mx1.example.test=:2525            resolve the host, dial port 2525
//	-smtp-addr '*=:2525'                         the same, for every host
//
// The loopback test world runs one SMTP listener per MX host, each on its
// own port, which is why a single port flag would not do.
type Overrides map[string]string

// Register defines on fs the repeatable flag -smtp-addr, which fills o.
func (o Overrides) Register(fs *flag.FlagSet) {
	fs.Var(o, "smtp-addr", "`HOST=[IP]:PORT` to dial for MX host HOST instead of port 25 (repeatable; HOST * for all)")
}

// String returns the overrides as flag values, sorted.
func (o Overrides) String() string {
	var s []string
	for h, a := range o {
		s = append(s, h+"="+a)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// Set adds one override, "host=addr".
func (o Overrides) Set(v string) error {
	host, addr, ok := strings.Cut(v, "=")
	if !ok || host == "" {
		return errors.New("want host=[ip]:port")
	}
	h, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("%q: want [ip]:port", addr)
	}
	if h != "" {
		if _, err := netip.ParseAddr(h); err != nil {
			return fmt.Errorf("%q: not an IP address", h)
		}
	}
	o[strings.TrimSuffix(strings.ToLower(host), ".")] = addr
	return nil
}

// Dialer connects to MX hosts: it resolves a host's addresses through DNS
// and dials them in turn on port 25, unless Overrides say otherwise.
type Dialer struct {
	DNS       *dnsclient.Client
	Overrides Overrides
}

// Dial connects to the SMTP server of the MX host host.
func (d *Dialer) Dial(ctx context.Context, host string) (net.Conn, error) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	addr, ok := d.Overrides[host]
	if !ok {
		addr, ok = d.Overrides["*"]
	}
	ip, port := "", "25"
	if ok {
		ip, port, _ = net.SplitHostPort(addr)
	}
	var nd net.Dialer
	if ip != "" {
		return nd.DialContext(ctx, "tcp", addr)
	}
	addrs, err := d.DNS.AllAddrs(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("smtp: %s has no address", host)
	}
	var errs []error
	for _, a := range addrs {
		c, err := nd.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Package mtaststest runs a whole mail world on loopback for the tests of
// code that delivers mail under MTA-STS (RFC 8461), in the manner of
// net/http/httptest: a DNS server, an HTTPS server publishing policies
// under a throwaway certificate authority, and one SMTP server with
// STARTTLS per MX host, all on 127.0.0.1, with no network needed.
//
//	func TestDeliver(t *testing.T) {
//		w := mtaststest.NewWorld(t)
//		w.AddDomain("example.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx1.example.test"}, MaxAge: 86400})
//		r := w.Resolver() // a *resolver.Resolver that asks the world, closed when the test ends
//		d, err := r.Check(ctx, "example.test", "mx1.example.test")
//		// ... STARTTLS with d.TLSConfig(&tls.Config{InsecureSkipVerify: true}),
//		// dialling through w.DialContext ...
//		msgs := w.Messages("mx1.example.test")
//	}
//
// The base configuration given to Decision.TLSConfig is the one for mail
// without a policy: opportunistic TLS (RFC 7435), which accepts any
// certificate, hence InsecureSkipVerify. Under a testing or enforce policy
// the verdict's configuration replaces it with the policy's own validation,
// with the resolver's roots (the world's CA for World.Resolver). A base
// that verifies (&tls.Config{}) would fail delivery to domains without a
// policy whose MX hosts have self-signed certificates, common on the
// internet: see the Example, whose delivery code is README.md's.
//
// The world can change while the code under test runs: SetPolicy publishes a
// new policy id, SetMX moves the mail exchangers, and Fault breaks a name's
// DNS, HTTPS, TLS certificate or SMTP in one of many ways (a SERVFAIL, an
// HTTP 500, an expired certificate, a server without STARTTLS); Fault with
// no faults mends it.
//
// The rest of a delivery goes through the world too: World.LookupMX and
// World.NetResolver answer from its DNS, World.DialContext reaches its SMTP
// servers, World.RootCAs and World.CAFile give its certificate authority,
// and World.Posts returns the HTTPS POSTs it received (TLS-RPT reports sent
// to an https rua, published with World.SetTLSRPT and World.AddHTTPSHost).
//
// Everything listens on loopback only, and a World never dials out: names
// of the world resolve to 127.0.0.1 through World.DNSAddr only.
package mtaststest

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/resolver"
)

// Policy is an MTA-STS policy as the world publishes it: Mode is written as
// given ("enforce", "testing", "none", or anything else a test needs), MX
// are the mx lines in order (patterns such as "*.example.test" included),
// MaxAge is written as given, and an empty ID means a fresh random id.
type Policy = testserver.Policy

// Message is a message an SMTP host of the world accepted: the host, the
// envelope, the data (dot-unstuffed, lines ending in CRLF), whether
// STARTTLS preceded it and the SNI the client sent.
type Message = testserver.Message

// World is a mail world on loopback. Every method is safe for concurrent
// use, also while the code under test uses the world.
type World struct {
	w  *testserver.World
	tb testing.TB // nil for a world made by New

	mu        sync.Mutex
	resolvers []*resolver.Resolver
	caFile    string // written by CAFile
	caDir     string // a directory CAFile made outside a test, removed by Close
}

// NewWorld starts a world for the test tb and stops it, and every
// resolver made by World.Resolver, when the test ends. It fails the test if
// a loopback listener cannot be bound.
func NewWorld(tb testing.TB) *World {
	tb.Helper()
	tw, err := testserver.New(testserver.Options{})
	if err != nil {
		tb.Fatalf("mtaststest: %v", err)
	}
	w := &World{w: tw, tb: tb}
	tb.Cleanup(w.Close)
	return w
}

// New starts a world outside a test, for an example or a demonstration;
// Close stops it. The methods of such a world that can fail (World.AddDomain
// and World.AddMXHost, when a loopback listener cannot be bound) panic
// instead of failing a test.
func New() (*World, error) {
	tw, err := testserver.New(testserver.Options{})
	if err != nil {
		return nil, fmt.Errorf("mtaststest: %w", err)
	}
	return &World{w: tw}, nil
}

// Close closes the resolvers made by World.Resolver, then stops every
// server of the world and waits for their goroutines. It may be called more
// than once.
func (w *World) Close() {
	w.mu.Lock()
	rs := w.resolvers
	w.resolvers = nil
	dir := w.caDir
	w.caDir = ""
	w.mu.Unlock()
	for _, r := range rs {
		r.Close()
	}
	w.w.Close()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

func (w *World) fail(err error) {
	if w.tb != nil {
		w.tb.Helper()
		w.tb.Fatalf("mtaststest: %v", err)
	}
	panic(fmt.Sprintf("mtaststest: %v", err))
}

// AddDomain publishes domain as a whole MTA-STS domain and returns the
// policy id: the _mta-sts TXT record, the policy host mta-sts.<domain> and
// its policy file, MX records (preferences 10, 20, ... in order) for the
// MX hosts of p that are not patterns, and an SMTP server for each of them.
// Calling it again republishes everything.
func (w *World) AddDomain(domain string, p Policy) string {
	id, err := w.w.AddDomain(domain, p)
	if err != nil {
		w.fail(err)
	}
	return id
}

// AddMXHost starts an SMTP server (with STARTTLS and a certificate from
// the world's authority) for host, publishes its address and returns the
// address of its listener. A host that has one keeps it. Use it with
// World.SetMX for MX hosts that no policy lists.
func (w *World) AddMXHost(host string) string {
	addr, err := w.w.AddSMTPHost(host)
	if err != nil {
		w.fail(err)
	}
	w.w.SetAddrs(host, w.w.IP())
	return addr
}

// SetPolicy publishes a new policy for domain, under a new id unless p.ID
// is set, and returns the id. The MX records are left alone, so that a test
// can make the policy and the MX records disagree.
func (w *World) SetPolicy(domain string, p Policy) string { return w.w.SetPolicy(domain, p) }

// SetPolicyBody replaces the policy file of domain with body, as is, leaving
// the TXT record alone: the way to serve an invalid policy.
func (w *World) SetPolicyBody(domain, body string) { w.w.SetPolicyBody(domain, body) }

// RemovePolicy removes the _mta-sts TXT record of domain and its policy
// file; the MX records stay.
func (w *World) RemovePolicy(domain string) { w.w.RemovePolicy(domain) }

// SetMX replaces the MX records of domain with hosts, preferences 10, 20,
// ... in the order given; no hosts removes them. Hosts without an SMTP
// server need World.AddMXHost.
func (w *World) SetMX(domain string, hosts ...string) { w.w.SetMX(domain, hosts...) }

// SetTXT replaces the TXT records at name, one record per value; no values
// removes them.
func (w *World) SetTXT(name string, values ...string) { w.w.SetTXT(name, values...) }

// SetTLSRPT replaces the TLS reporting record _smtp._tls.<domain> (RFC
// 8460), for example "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"; an empty
// record removes it.
func (w *World) SetTLSRPT(domain, record string) { w.w.SetTLSRPT(domain, record) }

// Fault replaces the faults of name (a DNS name, a policy host
// mta-sts.<domain> or an MX host) with faults; with none, name works again.
//
//	w.Fault("_mta-sts.example.test", mtaststest.ServFail)      // the TXT lookup fails
//	w.Fault("mta-sts.example.test", mtaststest.Status(500))    // the policy fetch fails
//	w.Fault("mx1.example.test", mtaststest.CertExpired)        // the MX's certificate expired
//	w.Fault("mx1.example.test", mtaststest.NoSTARTTLS)         // the MX offers no STARTTLS
func (w *World) Fault(name string, faults ...Fault) { w.w.Fault(name, faults...) }

// ClearFaults removes the faults of every name.
func (w *World) ClearFaults() { w.w.ClearFaults() }

// ResolverOptions returns options for resolver.New that point a resolver at
// the world: its DNS server, its certificate authority, its HTTPS port and
// short timeouts. Add Events, a Clock or OnTemporaryError, and close the
// resolver yourself.
func (w *World) ResolverOptions() resolver.Options {
	return resolver.Options{
		DNS:          []string{w.w.DNSAddr()},
		DNSTimeout:   2 * time.Second,
		RootCAs:      w.w.RootCAs(),
		HTTPSPort:    w.w.HTTPSPort(),
		FetchTimeout: 10 * time.Second,
	}
}

// Resolver returns a new resolver with World.ResolverOptions, closed
// when the world closes (at the end of the test, for NewWorld).
func (w *World) Resolver() *resolver.Resolver {
	r, err := resolver.New(w.ResolverOptions())
	if err != nil {
		w.fail(err)
	}
	w.mu.Lock()
	w.resolvers = append(w.resolvers, r)
	w.mu.Unlock()
	return r
}

// DialContext dials the world as a mail server dials the internet: an
// address whose host is an MX host of the world ("mx1.example.test:25")
// reaches that host's SMTP server, whatever the port; a loopback IP address
// is dialled as given; anything else fails. Give it to delivery code in
// place of a net.Dialer's.
func (w *World) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return w.w.DialContext(ctx, network, addr)
}

// Messages returns the messages that the MX host host accepted, oldest
// first.
func (w *World) Messages(host string) []Message { return w.w.Messages(host) }

// DNSAddr returns the "host:port" of the world's DNS server (UDP and TCP).
func (w *World) DNSAddr() string { return w.w.DNSAddr() }

// HTTPSPort returns the port of the world's HTTPS server, to dial instead
// of 443 (resolver.Options.HTTPSPort).
func (w *World) HTTPSPort() int { return w.w.HTTPSPort() }

// SMTPAddr returns the "host:port" of the SMTP server of the MX host host,
// or "" if it has none.
func (w *World) SMTPAddr(host string) string { return w.w.SMTPAddr(host) }

// RootCAs returns a new pool holding the world's certificate authority,
// which issues every valid certificate of the world.
func (w *World) RootCAs() *x509.CertPool { return w.w.RootCAs() }

// CAPEM returns the certificate of the world's authority, PEM-encoded, for
// programs that read a CA file.
func (w *World) CAPEM() []byte { return w.w.CAPEM() }

// Fetches reports how many times the policy file of domain was requested.
func (w *World) Fetches(domain string) int { return w.w.Fetches(domain) }

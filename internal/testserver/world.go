package testserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Options configure a [World]. The zero value works.
type Options struct {
	// IP is the loopback address every listener binds to; the default is
	// 127.0.0.1. Any address outside 127.0.0.0/8 and ::1 is refused with a
	// *[LoopbackError].
	IP netip.Addr

	// Now is the clock for certificate validity; the default is time.Now.
	Now func() time.Time
}

// LoopbackError reports an attempt to bind or dial an address that is not
// loopback: the world never touches the network outside the machine.
type LoopbackError struct {
	Op   string // "bind" or "dial"
	Addr string
}

// Error implements error.
func (e *LoopbackError) Error() string {
	return "testserver: " + e.Op + " " + e.Addr + ": not a loopback address"
}

// A World is a mail world on loopback: a DNS server, one HTTPS server for
// every host, an SMTP server per MX host, and a CA that certifies them all.
// Every method is safe for concurrent use, also while clients use the world.
type World struct {
	ip        netip.Addr
	now       func() time.Time
	ca        *CA
	untrusted *CA

	ctx    context.Context // cancelled by Close: ends every slow fault
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup // every goroutine the world starts

	dnsUDP, dnsTCP *dns.Server
	dnsAddr        string
	httpSrv        *http.Server
	httpAddr       string

	certMu sync.Mutex
	certs  map[certKey]tls.Certificate

	mu         sync.Mutex
	closed     bool
	zone       map[rrKey][]dns.RR
	queries    map[rrKey]int
	faults     map[string][]Fault
	secure     map[string]bool   // zone → DNSSEC-secure (SetSecure)
	bodies     map[string]string // policy host → policy file
	ids        map[string]string // domain → policy id
	fetches    map[string]int    // host → GETs of the policy file
	handshakes map[string]int
	posts      map[string][]Request
	smtp       map[string]*smtpHost
	smtpConns  map[net.Conn]struct{}
	messages   map[string][]Message
}

// New starts a world with every server listening; Close stops it.
func New(opts Options) (*World, error) {
	ip := opts.IP.Unmap()
	if !opts.IP.IsValid() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if !ip.IsLoopback() {
		return nil, &LoopbackError{Op: "bind", Addr: opts.IP.String()}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ca, err := NewCA("mtasts testserver root", now)
	if err != nil {
		return nil, err
	}
	untrusted, err := NewCA("mtasts testserver untrusted root", now)
	if err != nil {
		return nil, err
	}
	w := &World{
		ip:         ip,
		now:        now,
		ca:         ca,
		untrusted:  untrusted,
		certs:      make(map[certKey]tls.Certificate),
		zone:       make(map[rrKey][]dns.RR),
		queries:    make(map[rrKey]int),
		faults:     make(map[string][]Fault),
		bodies:     make(map[string]string),
		ids:        make(map[string]string),
		fetches:    make(map[string]int),
		handshakes: make(map[string]int),
		posts:      make(map[string][]Request),
		smtp:       make(map[string]*smtpHost),
		smtpConns:  make(map[net.Conn]struct{}),
		messages:   make(map[string][]Message),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if err := w.startDNS(); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.startHTTPS(); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// Start starts a world for a test and closes it when the test ends. At most
// one Options may be given.
func Start(tb testing.TB, opts ...Options) *World {
	tb.Helper()
	var o Options
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		tb.Fatalf("testserver: Start takes at most one Options, got %d", len(opts))
	}
	w, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(w.Close)
	return w
}

// Close stops every server, ends every slow fault and waits for every
// goroutine of the world to finish. It may be called more than once.
func (w *World) Close() {
	w.once.Do(func() {
		w.cancel()
		w.mu.Lock()
		w.closed = true
		hosts := make([]*smtpHost, 0, len(w.smtp))
		for _, h := range w.smtp {
			hosts = append(hosts, h)
		}
		for c := range w.smtpConns {
			c.Close()
		}
		w.mu.Unlock()
		for _, h := range hosts {
			h.ln.Close()
		}
		if w.httpSrv != nil {
			w.httpSrv.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range []*dns.Server{w.dnsUDP, w.dnsTCP} {
			if s != nil {
				s.ShutdownContext(ctx)
			}
		}
		w.wg.Wait()
	})
}

// IP returns the loopback address the world listens on.
func (w *World) IP() netip.Addr { return w.ip }

// listen binds a TCP listener on the world's IP, refusing any address that
// is not loopback.
func (w *World) listen(port int) (net.Listener, error) {
	if !w.ip.IsLoopback() {
		return nil, &LoopbackError{Op: "bind", Addr: w.ip.String()}
	}
	return net.Listen("tcp", netip.AddrPortFrom(w.ip, uint16(port)).String())
}

// go runs f in a goroutine that Close waits for.
func (w *World) goTracked(f func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		f()
	}()
}

// sleep waits for d, or until ctx or the world ends; it reports whether the
// whole duration passed.
func (w *World) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-w.ctx.Done():
		return false
	}
}

// DialContext dials the world as a mail server would dial the internet: an
// address whose host is an SMTP host of the world goes to that host's SMTP
// listener, whatever the port; any other host name with port 443 goes to
// the HTTPS listener; a loopback IP address is dialled as given. Anything
// else fails, with a *[LoopbackError] for an IP address that is not loopback.
// Host names are not resolved: a test of name resolution resolves through
// [World.DNSAddr] first and dials the IP with the port of [World.HTTPSPort]
// or [World.SMTPAddr].
func (w *World) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	target := ""
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Unmap().IsLoopback() {
			return nil, &LoopbackError{Op: "dial", Addr: addr}
		}
		target = addr
	} else if a := w.SMTPAddr(host); a != "" {
		target = a
	} else if port == "443" {
		target = w.httpAddr
	} else {
		return nil, fmt.Errorf("testserver: dial %s: no such server in the world", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, target)
}

// HTTPClient returns a client for the world's HTTPS server: it trusts the
// world's CA, dials through [World.DialContext], follows no redirect (the
// 3xx response is returned, as MTA-STS requires), keeps no idle connection
// (so none outlives a test) and gives up after ten seconds.
func (w *World) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:       w.DialContext,
			TLSClientConfig:   &tls.Config{RootCAs: w.RootCAs()},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// canon returns name in the form the world keys on: lower case, with a
// trailing dot.
func canon(name string) string {
	return dns.Fqdn(strings.ToLower(strings.TrimSpace(name)))
}

// display returns a canonical name without its trailing dot.
func display(name string) string {
	return strings.TrimSuffix(name, ".")
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

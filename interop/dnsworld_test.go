package interop

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startTimeout bounds the start of one server.
const startTimeout = 15 * time.Second

// dnsWorld is an NSD authoritative server for some zones and an Unbound
// recursive server in front of it, as a mail server's site runs them.
type dnsWorld struct {
	dir     string
	nsd     string // host:port of NSD (port 53: delegations name no port)
	unbound string // host:port of Unbound
}

// zoneFile is one zone as an operator writes it: the origin ("test.") and
// the text of the file.
type zoneFile struct {
	origin string
	text   string
}

// startDNS starts NSD on nsdIP:53 serving zones, a second NSD on
// lameIP:53 (unless "") serving none (the server of lame delegations), and
// Unbound on
// unboundIP:unboundPort (a free port if 0) with a stub zone to NSD for each
// of them. Unbound refuses every name outside those zones, so that nothing
// leaves the machine.
func startDNS(t testing.TB, nsdIP, lameIP, unboundIP string, unboundPort int, zones ...zoneFile) *dnsWorld {
	t.Helper()
	bins := need(t, "nsd", "unbound")
	needRoot(t)
	dir := t.TempDir()
	requirePortFree(t, nsdIP, 53)
	if lameIP != "" {
		requirePortFree(t, lameIP, 53)
	}
	if unboundPort == 0 {
		unboundPort = freePort(t, unboundIP)
	} else {
		requirePortFree(t, unboundIP, unboundPort)
	}
	w := &dnsWorld{dir: dir, nsd: net.JoinHostPort(nsdIP, "53"), unbound: net.JoinHostPort(unboundIP, strconv.Itoa(unboundPort))}

	nsdConf := nsdConfig(dir, "nsd", nsdIP)
	ubConf := unboundConfig(dir, unboundIP, unboundPort, "iterator")
	var stubs strings.Builder
	for i, z := range zones {
		name := fmt.Sprintf("zone%d.db", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(z.text), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nsdConf, "zone:\n\tname: %q\n\tzonefile: %q\n", z.origin, name)
		// "test." is one of Unbound's built-in local zones (RFC 6761): a
		// local zone of our own for the name replaces it, and
		// "transparent" lets queries through to the stub.
		fmt.Fprintf(ubConf, "\tlocal-zone: %q transparent\n", z.origin)
		fmt.Fprintf(&stubs, "stub-zone:\n\tname: %q\n\tstub-addr: %s@53\n", z.origin, nsdIP)
	}
	ubConf.WriteString("remote-control:\n\tcontrol-enable: no\n")
	ubConf.WriteString(stubs.String())
	startNSDUnbound(t, bins, dir, nsdConf, ubConf, w.nsd, w.unbound, zones[0].origin)
	if lameIP == "" {
		return w
	}
	// The lame server: an NSD that serves no zone, so it refuses every
	// query, as a server that a delegation names but that was never set
	// up for the zone does.
	lamePath := filepath.Join(dir, "lame.conf")
	if err := os.WriteFile(lamePath, []byte(nsdConfig(dir, "lame", lameIP).String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lame := startProc(t, "lame", dir, bins[0], "-d", "-c", lamePath)
	waitFor(t, "lame nsd refuses", startTimeout, lame, func() error {
		m, err := query(net.JoinHostPort(lameIP, "53"), "udp", zones[0].origin, dns.TypeSOA, 1232)
		if err != nil {
			return err
		}
		if m.Rcode != dns.RcodeRefused {
			return fmt.Errorf("%s: %w", dns.RcodeToString[m.Rcode], errNotYet)
		}
		return nil
	})
	return w
}

// unboundConfig returns the server section of an Unbound configuration:
// Unbound on ip:port, its files in dir, open to 127.0.0.0/8 only, with the
// given modules and extra server lines, refusing every name (the zones to
// serve follow as local zones of their own).
func unboundConfig(dir, ip string, port int, modules string, extra ...string) *strings.Builder {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	interface: %s
	port: %d
	do-ip6: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: %q
	logfile: %q
	use-syslog: no
	verbosity: 1
	log-servfail: yes
	num-threads: 1
	outgoing-range: 64
	num-queries-per-thread: 64
	so-reuseport: no
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	module-config: %q
`, ip, port, dir, filepath.Join(dir, "unbound.pid"), filepath.Join(dir, "unbound.log"), modules)
	for _, l := range extra {
		fmt.Fprintf(&b, "\t%s\n", l)
	}
	b.WriteString("\tlocal-zone: \".\" refuse\n")
	return &b
}

// startNSDUnbound writes nsdConf and ubConf to dir, starts NSD (bins[0])
// and Unbound (bins[1]) on them and waits until both answer the SOA query
// of origin, at nsdAddr and ubAddr.
func startNSDUnbound(t testing.TB, bins []string, dir string, nsdConf, ubConf *strings.Builder, nsdAddr, ubAddr, origin string) {
	t.Helper()
	nsdPath, ubPath := filepath.Join(dir, "nsd.conf"), filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(nsdPath, []byte(nsdConf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ubPath, []byte(ubConf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	nsd := startProc(t, "nsd", dir, bins[0], "-d", "-c", nsdPath)
	ub := startProc(t, "unbound", dir, bins[1], "-d", "-c", ubPath)
	waitFor(t, "nsd answers", startTimeout, nsd, soaProbe(nsdAddr, origin))
	waitFor(t, "unbound answers", startTimeout, ub, soaProbe(ubAddr, origin))
}

// nsdConfig returns the server section of an NSD configuration for the
// server called name on ip:53, its files in dir.
func nsdConfig(dir, name, ip string) *strings.Builder {
	var b strings.Builder
	file := func(ext string) string { return filepath.Join(dir, name+ext) }
	fmt.Fprintf(&b, `server:
	ip-address: %s
	port: 53
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: %q
	pidfile: %q
	logfile: %q
	database: ""
	zonelistfile: %q
	xfrdfile: %q
	xfrdir: %q
	server-count: 1
	tcp-count: 32
	verbosity: 1
	hide-version: yes
remote-control:
	control-enable: no
`, ip, dir, file(".pid"), file(".log"), file(".zonelist"), file(".xfrd"), dir)
	return &b
}

// soaProbe returns a probe that succeeds once server answers the SOA query
// of zone with NOERROR.
func soaProbe(server, zone string) func() error {
	return func() error {
		m, err := query(server, "udp", zone, dns.TypeSOA, 1232)
		if err != nil {
			return err
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
			return fmt.Errorf("%s: %s", dns.RcodeToString[m.Rcode], errNotYet)
		}
		return nil
	}
}

// query asks server one question over network ("udp" or "tcp") with the
// recursion-desired bit and EDNS0 of the given buffer size, as a stub
// resolver does: a few lines of miekg/dns stand in for dig, which Debian
// does not install with the servers.
func query(server, network, name string, qtype uint16, bufsize uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(bufsize, false)
	c := dns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: bufsize}
	m, _, err := c.Exchange(q, server)
	return m, err
}

// logs returns the servers' logs, for failure messages.
func (w *dnsWorld) logs() string {
	return "nsd.log:" + tailFile(filepath.Join(w.dir, "nsd.log"), 10) +
		"\nunbound.log:" + tailFile(filepath.Join(w.dir, "unbound.log"), 10)
}

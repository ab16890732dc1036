package interop

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// The addresses of the Postfix tests. MX hosts listen on port 25 of an
// address each, as Postfix delivers to port 25.
const (
	pfNSD       = "127.0.55.1"
	pfUnbound   = "127.0.55.2" // port 53: Postfix's resolv.conf names it
	pfRefuser   = "127.0.55.3" // the server of lame delegations
	pfNginx     = "127.0.55.20"
	pfWorld     = "127.0.55.30" // internal/testserver's SMTP servers
	pfSocketmap = "127.0.55.40"
	pfPostfix   = "127.0.55.50"
)

// grace is the -dns-error-grace of the socketmap server: how long a domain
// whose _mta-sts lookups fail is deferred before it is delivered without
// MTA-STS.
const grace = 5 * time.Second

// deliveryTimeout bounds one delivery attempt as the log shows it.
const deliveryTimeout = 45 * time.Second

// pfDomain is a recipient domain of the Postfix tests.
type pfDomain struct {
	name   string
	mx     string // its one MX host
	mxIP   string // the MX host's address (a relay to internal/testserver on port 25)
	policy string // the policy file served by nginx; "" for none
	zone   string // more lines of zone "test." (relative to test.)
}

// Every policy lists mx1.<domain>; mismatch.test's and testing.test's MX
// records point at mx9, which it does not list.
var pfDomains = []pfDomain{
	{name: "enforce.test", mx: "mx1.enforce.test", mxIP: "127.0.55.11", policy: enforcePolicy("enforce.test")},
	{name: "expired.test", mx: "mx1.expired.test", mxIP: "127.0.55.12", policy: enforcePolicy("expired.test")},
	{name: "mismatch.test", mx: "mx9.mismatch.test", mxIP: "127.0.55.13", policy: enforcePolicy("mismatch.test")},
	{name: "testing.test", mx: "mx9.testing.test", mxIP: "127.0.55.14", policy: policyFile("testing", "testing.test")},
	{name: "nopolicy.test", mx: "mx1.nopolicy.test", mxIP: "127.0.55.15"},
	{name: "unix.test", mx: "mx1.unix.test", mxIP: "127.0.55.18", policy: enforcePolicy("unix.test")},
	{name: "grace.test", mx: "mx1.grace.test", mxIP: "127.0.55.16",
		zone: "_mta-sts.grace\tIN NS\tns.refuser.test.\n"},
	{name: "servfail.test", mx: "mx1.servfail.test", mxIP: "127.0.55.17",
		zone: "_mta-sts.servfail\tIN NS\tns.refuser.test.\n"},
}

// postfixZone is zone "test." of the Postfix tests.
func postfixZone() zoneFile {
	var b strings.Builder
	fmt.Fprintf(&b, `$ORIGIN test.
$TTL 300
@		IN SOA	ns1.test. hostmaster.test. ( 1 3600 600 86400 60 )
		IN NS	ns1.test.
ns1		IN A	%s
ns.refuser	IN A	%s
`, pfNSD, pfRefuser)
	for _, d := range pfDomains {
		label := strings.TrimSuffix(d.name, ".test")
		mxLabel := strings.TrimSuffix(d.mx, ".test")
		fmt.Fprintf(&b, "%s\tIN MX\t10 %s.\n%s\tIN A\t%s\n", label, d.mx, mxLabel, d.mxIP)
		if d.policy != "" {
			fmt.Fprintf(&b, "_mta-sts.%s\tIN TXT\t\"v=STSv1; id=%s1\"\nmta-sts.%s\tIN A\t%s\n", label, label, label, pfNginx)
		}
		b.WriteString(d.zone)
	}
	return zoneFile{origin: "test.", text: b.String()}
}

// TestPostfix runs a real Postfix whose smtp_tls_policy_maps is the
// project's socketmap server, and delivers mail through it to loopback
// STARTTLS servers.
func TestPostfix(t *testing.T) {
	need(t, "nsd", "unbound", "nginx", "postfix", "unshare", "setpriv")
	needRoot(t)
	for _, d := range pfDomains {
		requirePortFree(t, d.mxIP, 25)
	}
	dnsw := startDNS(t, pfNSD, pfRefuser, pfUnbound, 53, postfixZone())

	// The MX hosts: internal/testserver's SMTP servers, on port 25 of an
	// address each through a relay; its CA issues every certificate.
	w := testserver.Start(t, testserver.Options{IP: netip.MustParseAddr(pfWorld)})
	dir := openTempDir(t)
	caFile := filepath.Join(dir, "ca.pem")
	if err := w.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	for _, d := range pfDomains {
		addr, err := w.AddSMTPHost(d.mx)
		if err != nil {
			t.Fatal(err)
		}
		relayTCP(t, net.JoinHostPort(d.mxIP, "25"), addr)
	}
	w.Fault("mx1.expired.test", testserver.CertExpired)

	var hosts []vhost
	for _, d := range pfDomains {
		if d.policy == "" {
			continue
		}
		cert, err := w.CA().Issue(testserver.CertSpec{DNSNames: []string{"mta-sts." + d.name}})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, vhost{domain: d.name, ip: pfNginx, listen: "ssl", cert: cert, body: d.policy})
	}
	ngx := startNginx(t, 0, hosts)

	bin := buildSocketmap(t)
	smPort := freePort(t, pfSocketmap)
	smAddr := net.JoinHostPort(pfSocketmap, strconv.Itoa(smPort))
	args := []string{bin.path, "-listen", smAddr, "-dns", dnsw.unbound, "-ca", caFile,
		"-https-port", strconv.Itoa(ngx.port), "-timeout", "10s", "-v"}
	if bin.has("-dns-error-grace") {
		args = append(args, "-dns-error-grace", grace.String())
	}
	sm := startProc(t, "socketmap", dir, args...)
	waitFor(t, "socketmap server listens", startTimeout, sm, dialable(smAddr))
	table := "socketmap:inet:" + smAddr + ":postfix"

	// Mail to unix.test goes through a transport of its own, an smtp(8)
	// (running as postfix, as every smtp(8) does) whose policy map is the
	// Unix socket of a second socketmap server, started by its subtest.
	sock := filepath.Join(dir, "socketmap.sock")
	unixTable := "socketmap:unix:" + sock + ":postfix"
	pf := startPostfix(t, postfixConfig{ip: pfPostfix, resolver: pfUnbound, policyMap: table, caFile: caFile,
		transports:  "unix.test smtpunix:\n",
		masterExtra: "smtpunix unix - - n - - smtp -o smtp_tls_policy_maps=" + unixTable + "\n"})
	defer func() {
		if t.Failed() {
			t.Logf("socketmap server:%s", sm.tail())
		}
	}()

	// Every message is submitted at once; each subtest then reads its
	// outcome from Postfix's log.
	rcpt := func(domain string) string { return "user@" + domain }
	for _, d := range pfDomains {
		if d.name != "servfail.test" && d.name != "unix.test" {
			pf.submit(t, "sender@sender.test", rcpt(d.name), "to "+d.name)
		}
	}
	// Messages the MX host of domain received.
	received := func(d string) []testserver.Message {
		for _, x := range pfDomains {
			if x.name == d {
				return w.Messages(x.mx)
			}
		}
		return nil
	}

	// Each domain's message ends sent or deferred (first try); the MX host
	// received n messages, over TLS when tls, with SNI serverName when set;
	// Postfix logged the line logged when set.
	for _, c := range []struct {
		name, domain, status string
		n                    int
		tls                  bool
		serverName, logged   string
	}{
		{"enforce, MX matches, valid certificate: delivered over verified TLS", "enforce.test", "sent", 1, true,
			"mx1.enforce.test", "Verified TLS connection established to mx1.enforce.test[127.0.55.11]:25"},
		{"enforce, expired certificate: deferred, never sent in clear", "expired.test", "deferred", 0, false, "", ""},
		{"enforce, MX not in the policy: deferred, never sent in clear", "mismatch.test", "deferred", 0, false, "", ""},
		{"testing, MX not in the policy: delivered", "testing.test", "sent", 1, true, "", ""},
		{"no policy: delivered", "nopolicy.test", "sent", 1, false, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			pf.waitStatus(t, rcpt(c.domain), c.status, 0, deliveryTimeout)
			if c.logged != "" && !pf.logged(t, c.logged) {
				t.Errorf("no %q in the log", c.logged)
			}
			m := received(c.domain)
			ok := len(m) == c.n
			for _, x := range m {
				ok = ok && (!c.tls || x.TLS) && (c.serverName == "" || x.ServerName == c.serverName)
			}
			if !ok {
				t.Errorf("the MX host received %+v; want %d message(s), TLS %v, SNI %q", m, c.n, c.tls, c.serverName)
			}
		})
	}
	t.Run("_mta-sts SERVFAIL, nothing cached: deferred within the grace, delivered after it", func(t *testing.T) {
		pf.waitStatus(t, rcpt("grace.test"), "deferred", 0, deliveryTimeout)
		if m := received("grace.test"); len(m) != 0 {
			t.Fatalf("the MX host received %+v within the grace; want nothing", m)
		}
		if !bin.has("-dns-error-grace") {
			t.Fatal("the socketmap server has no -dns-error-grace flag (INTEROP_SOCKETMAP names an older server?): the domain stays deferred")
		}
		// Once the grace is over, the socketmap answers NOTFOUND; then a
		// retry delivers.
		waitFor(t, "the grace of grace.test ends", grace+15*time.Second, sm, func() error {
			if out, code := pf.postmap(t, "grace.test", table, false); code != 1 || out != "" {
				return fmt.Errorf("postmap: %q, exit %d: %w", out, code, errNotYet)
			}
			return nil
		})
		pf.flush(t)
		pf.waitStatus(t, rcpt("grace.test"), "sent", 1, deliveryTimeout)
		if m := received("grace.test"); len(m) != 1 {
			t.Errorf("the MX host received %+v; want one message", m)
		}
	})
	t.Run("postmap -q", func(t *testing.T) {
		// postmap exits 0 with the value for OK, 1 with nothing for
		// NOTFOUND, and 1 with a fatal "query error" for TEMP.
		for _, c := range []struct {
			name, key string
			out       string // the output, or for TEMP a part of it
			temp      bool
		}{
			{"OK for enforce", "enforce.test", "secure match=mx1.enforce.test servername=hostname", false},
			{"NOTFOUND for testing", "testing.test", "", false},
			{"NOTFOUND for no policy", "nopolicy.test", "", false},
			{"TEMP for SERVFAIL", "servfail.test", "socketmap server temporary error", true},
		} {
			t.Run(c.name, func(t *testing.T) {
				out, code := pf.postmap(t, c.key, table, false)
				switch {
				case c.temp && (code != 1 || !strings.Contains(out, c.out) || !strings.Contains(out, "query error")):
					t.Errorf("postmap -q %s: %q, exit %d; want a query error (%s), exit 1", c.key, out, code, c.out)
				case !c.temp && (out != c.out || code != 0 && c.out != "" || code != 1 && c.out == ""):
					t.Errorf("postmap -q %s: %q, exit %d; want %q", c.key, out, code, c.out)
				}
			})
		}
	})
	t.Run("unix socket the postfix user can open", func(t *testing.T) {
		args := []string{bin.path, "-listen", "unix:" + sock, "-dns", dnsw.unbound, "-ca", caFile,
			"-https-port", strconv.Itoa(ngx.port), "-timeout", "10s"}
		if bin.has("-socket-mode") {
			args = append(args, "-socket-mode", "0660", "-socket-group", "postfix")
		}
		usm := startProc(t, "socketmap-unix", dir, args...)
		waitFor(t, "socketmap server listens on "+sock, startTimeout, usm, func() error {
			c, err := net.Dial("unix", sock)
			if err != nil {
				return err
			}
			return c.Close()
		})
		if fi, err := os.Stat(sock); err == nil {
			t.Logf("socket mode %v", fi.Mode())
		}
		out, code := pf.postmap(t, "unix.test", unixTable, true)
		if code != 0 || out != "secure match=mx1.unix.test servername=hostname" {
			t.Errorf("postmap -q as the postfix user: %q, exit %d; want the enforce policy", out, code)
		}
		// And Postfix's own smtp(8), with the map on the socket.
		pf.submit(t, "sender@sender.test", rcpt("unix.test"), "through the unix socket")
		pf.waitStatus(t, rcpt("unix.test"), "sent", 0, deliveryTimeout)
		if !pf.logged(t, "Verified TLS connection established to mx1.unix.test[") {
			t.Errorf("no \"Verified TLS connection established to mx1.unix.test\" in the log")
		}
		if m := received("unix.test"); len(m) != 1 || !m[0].TLS {
			t.Errorf("the MX host received %+v; want one message, over TLS", m)
		}
	})
	t.Run("never sent in clear", func(t *testing.T) {
		// After every retry (the flush above retried the deferred ones).
		for _, d := range []string{"expired.test", "mismatch.test"} {
			if m := received(d); len(m) != 0 {
				t.Errorf("%s: the MX host received %+v; want nothing", d, m)
			}
			if s := pf.statuses(t, rcpt(d)); len(s) == 0 || strings.Contains(strings.Join(s, " "), "sent") {
				t.Errorf("%s: statuses %q; want deferred only", d, s)
			}
		}
	})
}

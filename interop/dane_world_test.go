package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// signTimeout bounds one ldns-keygen or ldns-signzone run (ECDSA P-256:
// milliseconds).
const signTimeout = 20 * time.Second

// signedZone is a zone to serve from NSD: its origin, its text, and how it
// is signed.
type signedZone struct {
	origin string
	text   string
	// unsigned: served as written (an insecure zone: no DS in its parent).
	unsigned bool
	// expired: signed with signatures that expired in 2020.
	expired bool
	// anchor: the zone's KSK is a trust anchor of Unbound (the top of the
	// chain of trust); otherwise its DS goes into its parent's text.
	anchor bool
	// tamper, applied to the signed text, breaks a signed record after
	// signing (a bogus signature).
	tamper func(signed string) string
}

// signedDNS is NSD serving signed zones and a validating Unbound in front.
type signedDNS struct {
	dir     string
	nsd     string
	unbound string
}

// ldns runs one ldnsutils program in dir and returns its standard output.
func ldns(t testing.TB, dir string, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), signTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// signZones signs zones, children first (a child is any zone whose origin
// ends in another's), adds each signed child's DS to its parent's text,
// and writes each zone's served file into dir. It returns the served file
// name of each zone and the trust anchor files (.ds) of the anchors.
func signZones(t testing.TB, dir string, zones []signedZone) (files []string, anchors []string) {
	t.Helper()
	bins := need(t, "ldns-keygen", "ldns-signzone")
	texts := make([]string, len(zones))
	for i, z := range zones {
		texts[i] = z.text
	}
	files = make([]string, len(zones))
	// Deepest first, so that a DS is in the parent before it is signed.
	order := make([]int, len(zones))
	for i := range order {
		order[i] = i
	}
	labels := func(i int) int { return dns.CountLabel(zones[i].origin) }
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && labels(order[j]) > labels(order[j-1]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	for _, i := range order {
		z := zones[i]
		name := fmt.Sprintf("signed%d.db", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(texts[i]), 0o644); err != nil {
			t.Fatal(err)
		}
		if z.unsigned {
			files[i] = name
			continue
		}
		ksk := ldns(t, dir, bins[0], "-a", "ECDSAP256SHA256", "-k", z.origin)
		zsk := ldns(t, dir, bins[0], "-a", "ECDSAP256SHA256", z.origin)
		argv := []string{bins[1], "-n"}
		if z.expired {
			argv = append(argv, "-i", "20200101000000", "-e", "20200201000000")
		}
		ldns(t, dir, append(argv, name, zsk, ksk)...)
		files[i] = name + ".signed"
		if z.tamper != nil {
			b, err := os.ReadFile(filepath.Join(dir, files[i]))
			if err != nil {
				t.Fatal(err)
			}
			tampered := z.tamper(string(b))
			if tampered == string(b) {
				t.Fatalf("zone %s: tamper changed nothing", z.origin)
			}
			if err := os.WriteFile(filepath.Join(dir, files[i]), []byte(tampered), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if z.anchor {
			anchors = append(anchors, filepath.Join(dir, ksk+".ds"))
			continue
		}
		ds, err := os.ReadFile(filepath.Join(dir, ksk+".ds"))
		if err != nil {
			t.Fatal(err)
		}
		parent := -1
		for j, p := range zones {
			if p.origin != z.origin && dns.IsSubDomain(p.origin, z.origin) &&
				(parent < 0 || labels(j) > labels(parent)) {
				parent = j
			}
		}
		if parent < 0 {
			t.Fatalf("zone %s: neither a trust anchor nor a child of a zone", z.origin)
		}
		texts[parent] += "\n" + string(ds)
	}
	return files, anchors
}

// startSignedDNS signs zones and starts NSD on nsdIP:53 serving them and a
// validating Unbound on unboundIP (a free port) with a stub zone to NSD for
// the top zones and the trust anchors of signZones. Unbound refuses every
// name outside the zones and sends Extended DNS Errors (RFC 8914).
func startSignedDNS(t testing.TB, nsdIP, unboundIP string, zones ...signedZone) *signedDNS {
	t.Helper()
	bins := need(t, "nsd", "unbound")
	needRoot(t)
	dir := t.TempDir()
	requirePortFree(t, nsdIP, 53)
	port := freePort(t, unboundIP)
	w := &signedDNS{dir: dir, nsd: net.JoinHostPort(nsdIP, "53"), unbound: net.JoinHostPort(unboundIP, strconv.Itoa(port))}
	files, anchors := signZones(t, dir, zones)

	nsdConf := nsdConfig(dir, "nsd", nsdIP)
	ub := unboundConfig(dir, unboundIP, port, "validator iterator", "ede: yes", "val-log-level: 2")
	for _, a := range anchors {
		fmt.Fprintf(ub, "\ttrust-anchor-file: %q\n", a)
	}
	var stubs strings.Builder
	for i, z := range zones {
		fmt.Fprintf(nsdConf, "zone:\n\tname: %q\n\tzonefile: %q\n", z.origin, files[i])
		top := true
		for _, p := range zones {
			if p.origin != z.origin && dns.IsSubDomain(p.origin, z.origin) {
				top = false
			}
		}
		if !top {
			continue // reached through its parent's delegation
		}
		// "test." is a built-in local zone of Unbound (RFC 6761): a
		// transparent local zone of our own lets queries through.
		fmt.Fprintf(ub, "\tlocal-zone: %q transparent\n", z.origin)
		fmt.Fprintf(&stubs, "stub-zone:\n\tname: %q\n\tstub-addr: %s@53\n", z.origin, nsdIP)
	}
	ub.WriteString("remote-control:\n\tcontrol-enable: no\n")
	ub.WriteString(stubs.String())
	startNSDUnbound(t, bins, dir, nsdConf, ub, w.nsd, w.unbound, zones[0].origin)
	return w
}

// logs returns the servers' logs, for failure messages.
func (w *signedDNS) logs() string {
	return "nsd.log:" + tailFile(filepath.Join(w.dir, "nsd.log"), 10) +
		"\nunbound.log:" + tailFile(filepath.Join(w.dir, "unbound.log"), 10)
}

// secureQuery asks server one question over UDP with the DO bit, as a
// DNSSEC-aware stub does, and returns the answer.
func secureQuery(server, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, true)
	c := dns.Client{Net: "udp", Timeout: 3 * time.Second, UDPSize: 1232}
	m, _, err := c.Exchange(q, server)
	return m, err
}

// edeCode returns the Extended DNS Error code of m, or -1 without one.
func edeCode(m *dns.Msg) int {
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				return int(e.InfoCode)
			}
		}
	}
	return -1
}

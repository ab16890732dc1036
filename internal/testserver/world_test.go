package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestNewRefusesNonLoopback(t *testing.T) {
	for _, ip := range []string{"0.0.0.0", "10.1.2.3", "::", "2001:db8::1", "192.0.2.1"} {
		t.Run(ip, func(t *testing.T) {
			w, err := New(Options{IP: netip.MustParseAddr(ip)})
			var le *LoopbackError
			if !errors.As(err, &le) || le.Op != "bind" || w != nil {
				t.Fatalf("New = %v, %v; want a *LoopbackError", w, err)
			}
		})
	}
}

func TestOtherLoopbackAddress(t *testing.T) {
	for _, ip := range []string{"127.0.0.2", "::1"} {
		t.Run(ip, func(t *testing.T) {
			w, err := New(Options{IP: netip.MustParseAddr(ip)})
			if err != nil {
				t.Skipf("cannot bind %s here: %v", ip, err)
			}
			defer w.Close()
			if _, err := w.AddDomain("example.test", testPolicy); err != nil {
				t.Fatal(err)
			}
			if host, _, _ := net.SplitHostPort(w.HTTPSAddr()); host != ip {
				t.Errorf("HTTPS on %s", w.HTTPSAddr())
			}
			qtype := dns.TypeA
			if netip.MustParseAddr(ip).Is6() {
				qtype = dns.TypeAAAA
			}
			r := mustExchange(t, w, "udp", "mta-sts.example.test", qtype)
			if len(r.Answer) != 1 {
				t.Errorf("address of the policy host: %v", r)
			}
			if _, _, err := get(t, w.HTTPClient(), policyURL); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestDialContextRefusesNonLoopback(t *testing.T) {
	w := Start(t)
	_, err := w.DialContext(context.Background(), "tcp", "192.0.2.1:443")
	var le *LoopbackError
	if !errors.As(err, &le) || le.Op != "dial" {
		t.Errorf("err = %v, want a *LoopbackError", err)
	}
	if _, err := w.DialContext(context.Background(), "tcp", "unknown.test:25"); err == nil {
		t.Error("dialled a host the world does not have")
	}
}

func TestStartAndClose100Worlds(t *testing.T) {
	defer goleak.VerifyNone(t)
	for range 100 {
		w, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddDomain("example.test", testPolicy); err != nil {
			t.Fatal(err)
		}
		mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT)
		w.Close()
		w.Close()
	}
}

// TestCloseEndsSlowFaults closes a world while clients wait on every slow
// fault, each set to an hour.
func TestCloseEndsSlowFaults(t *testing.T) {
	defer goleak.VerifyNone(t)
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.AddDomain("example.test", testPolicy)
	w.AddDomain("slow.test", testPolicy)
	w.AddDomain("stall.test", testPolicy)
	w.Fault("_mta-sts.example.test", DNSDelay(time.Hour))
	w.Fault("mta-sts.example.test", SlowHeaders(time.Hour))
	w.Fault("mta-sts.slow.test", Trickle(time.Hour))
	w.Fault("mta-sts.stall.test", HandshakeStall)

	var wg sync.WaitGroup
	wg.Go(func() {
		c := &dns.Client{Net: "tcp", Timeout: time.Minute}
		m := new(dns.Msg)
		m.SetQuestion("_mta-sts.example.test.", dns.TypeTXT)
		c.Exchange(m, w.DNSAddr())
	})
	for _, d := range []string{"example.test", "slow.test", "stall.test"} {
		wg.Go(func() {
			resp, err := w.HTTPClient().Get("https://mta-sts." + d + WellKnownPath)
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	// Let every request reach its fault.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) &&
		(w.Queries("_mta-sts.example.test", dns.TypeTXT) == 0 || w.Fetches("example.test") == 0 ||
			w.Fetches("slow.test") == 0 || w.Handshakes("mta-sts.stall.test") == 0) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	w.Close()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Close took %v", el)
	}
	wg.Wait()
}

// TestScriptedChange is the script of the issue: the domain publishes a new
// policy id, then its HTTPS breaks.
func TestScriptedChange(t *testing.T) {
	w := Start(t)
	id1, err := w.AddDomain("example.test", testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	id2 := w.SetPolicy("example.test", Policy{Mode: "testing", MX: []string{"mx1.example.test"}, MaxAge: 3600})
	w.Fault("mta-sts.example.test", Status(500))

	if id1 == id2 || w.ID("example.test") != id2 || len(id2) != 20 {
		t.Errorf("ids %q then %q, ID() = %q", id1, id2, w.ID("example.test"))
	}
	r := mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "v=STSv1; id="+id2 {
		t.Errorf("TXT %v", r.Answer)
	}
	if resp, _, err := get(t, w.HTTPClient(), policyURL); err != nil || resp.StatusCode != 500 {
		t.Errorf("fetch: %v, %v", resp, err)
	}
	if id := w.SetPolicy("example.test", Policy{Mode: "none", MaxAge: 1, ID: "fixed1"}); id != "fixed1" {
		t.Errorf("chosen id %q", id)
	}
}

func TestAddDomainRecords(t *testing.T) {
	w := Start(t)
	if _, err := w.AddDomain("example.test", Policy{Mode: "enforce", MX: []string{"mx2.example.test", "*.example.test", "mx1.other.test"}, MaxAge: 60}); err != nil {
		t.Fatal(err)
	}
	w.SetTLSRPT("example.test", "v=TLSRPTv1; rua=mailto:tlsrpt@example.test")
	r := mustExchange(t, w, "udp", "example.test", dns.TypeMX)
	if len(r.Answer) != 2 || r.Answer[0].(*dns.MX).Mx != "mx2.example.test." || r.Answer[1].(*dns.MX).Mx != "mx1.other.test." {
		t.Errorf("MX %v", r.Answer)
	}
	for _, h := range []string{"mta-sts.example.test", "mx2.example.test", "mx1.other.test"} {
		if r := mustExchange(t, w, "udp", h, dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("A %s: %v", h, r.Answer)
		}
	}
	if r := mustExchange(t, w, "udp", "_smtp._tls.example.test", dns.TypeTXT); len(r.Answer) != 1 {
		t.Errorf("TLSRPT %v", r.Answer)
	}
	w.SetTLSRPT("example.test", "")
	if r := mustExchange(t, w, "udp", "_smtp._tls.example.test", dns.TypeTXT); len(r.Answer) != 0 {
		t.Errorf("TLSRPT not removed: %v", r.Answer)
	}
	w.RemovePolicy("example.test")
	if r := mustExchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT); len(r.Answer) != 0 || w.ID("example.test") != "" {
		t.Errorf("TXT not removed: %v", r.Answer)
	}
}

// TestConcurrentUse changes the world while clients use it; run with -race.
func TestConcurrentUse(t *testing.T) {
	w := Start(t)
	w.AddDomain("example.test", testPolicy)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := w.HTTPClient()
			for i := 0; i < 200; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if resp, err := c.Get(policyURL); err == nil {
					resp.Body.Close()
				}
				if _, err := exchange(t, w, "udp", "_mta-sts.example.test", dns.TypeTXT, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 50 {
		w.SetPolicy("example.test", testPolicy)
		if i%2 == 0 {
			w.Fault("mta-sts.example.test", Status(500), CertFault(i%7+1))
		} else {
			w.Fault("mta-sts.example.test")
		}
		w.SetTXT("other.test", "x")
		_ = w.Fetches("example.test")
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
}

func TestCA(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	w := Start(t, Options{Now: func() time.Time { return now }})
	cert, err := w.CA().Issue(CertSpec{DNSNames: []string{"a.test", "*.b.test"}})
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: w.RootCAs(), DNSName: "x.b.test", CurrentTime: now}
	if _, err := cert.Leaf.Verify(opts); err != nil {
		t.Error(err)
	}
	opts.CurrentTime = now.AddDate(6, 0, 0)
	if _, err := cert.Leaf.Verify(opts); err == nil {
		t.Error("leaf valid after six years")
	}

	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := w.WriteCAFile(path); err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := os.ReadFile(path)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) || string(pemBytes) != string(w.CAPEM()) {
		t.Error("CA file unusable")
	}

	// A certificate minted by a test serves as is from a server of its own.
	srvCert, _ := w.CA().Issue(CertSpec{DNSNames: []string{"custom.test"}})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srvCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "custom.test", RootCAs: pool, Time: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

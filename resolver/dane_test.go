package resolver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"net/smtp"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/validate"
)

// The DANE states of an MX host in the precedence table.
const (
	daneOff      = "off"      // TLSA records published, but the resolver does not trust DNSSEC
	daneInsecure = "insecure" // TLSA records in an unsigned zone
	daneEE       = "ee"       // secure, usable DANE-EE(3)
	daneTA       = "ta"       // secure, usable DANE-TA(2)
	daneUnusable = "unusable" // secure, PKIX-EE(1) only
	daneNoData   = "nodata"   // secure denial: the name exists, no TLSA
	daneBogus    = "bogus"    // the TLSA lookup is bogus (SERVFAIL, EDE 6)
)

// daneWorld publishes, in a signed zone "test", an MX host per DANE state
// and certificate (good, or from an untrusted CA with another key), and
// the domains enforce.test, testing.test, none.test (policies naming
// *.mx.test) and nopolicy.test, each with every host as MX.
func daneWorld(t *testing.T) (*testserver.World, []string) {
	t.Helper()
	w := testserver.Start(t)
	w.SetSecure("test", true)
	var hosts []string
	states := []string{daneOff, daneInsecure, daneEE, daneTA, daneUnusable, daneNoData, daneBogus}
	for _, s := range states {
		for _, cert := range []string{"good", "bad"} {
			h := s + "-" + cert + ".mx.test"
			hosts = append(hosts, h)
			if _, err := w.AddSMTPHost(h); err != nil {
				t.Fatal(err)
			}
			w.SetAddrs(h, w.IP())
			good, err := w.Certificate(h, 0)
			if err != nil {
				t.Fatal(err)
			}
			spki := sha256.Sum256(good.Leaf.RawSubjectPublicKeyInfo)
			ee := "3 1 1 " + hex.EncodeToString(spki[:])
			var tlsa []string
			switch s {
			case daneOff, daneEE:
				tlsa = []string{ee}
			case daneInsecure:
				tlsa = []string{ee}
				w.SetSecure(h, false)
				w.SetSecure("_25._tcp."+h, false)
			case daneTA:
				tlsa = []string{"2 0 0 " + hex.EncodeToString(w.CA().Certificate().Raw)}
			case daneUnusable:
				tlsa = []string{"1 1 1 " + hex.EncodeToString(spki[:])}
			case daneNoData:
				w.SetTXT("_25._tcp."+h, "not a tlsa record")
			case daneBogus:
				tlsa = []string{ee}
				w.Fault("_25._tcp."+h, testserver.Bogus(0))
			}
			if err := w.SetTLSA(h, tlsa...); err != nil {
				t.Fatal(err)
			}
			if cert == "bad" {
				w.Fault(h, testserver.CertUntrusted)
			}
		}
	}
	for _, mode := range []string{"enforce", "testing", "none"} {
		if _, err := w.AddDomain(mode+".test", testserver.Policy{Mode: mode, MX: []string{"*.mx.test"}, MaxAge: 86400}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"enforce.test", "testing.test", "none.test", "nopolicy.test"} {
		w.SetMX(d, hosts...)
	}
	return w, hosts
}

// daneWant is the expected verdict of one row of the precedence table.
type daneWant struct {
	action     Action
	requireTLS bool
	status     DANEStatus
	policyType string
	handshake  bool // whether the STARTTLS handshake with Decision.TLSConfig succeeds
	result     validate.ResultType
}

// daneExpect is the precedence of RFC 8461 section 2 and RFC 7672: DANE
// decides a host with usable secure TLSA records, whatever the MTA-STS mode;
// MTA-STS decides the others; a bogus lookup means not this MX.
func daneExpect(state, mode string, good bool) daneWant {
	var w daneWant
	switch mode { // MTA-STS alone (RFC 8461 section 5)
	case "enforce":
		w = daneWant{action: Deliver, requireTLS: true, policyType: "sts", handshake: good}
	case "testing":
		w = daneWant{action: Deliver, policyType: "sts", handshake: true}
	default:
		w = daneWant{action: DeliverWithoutSTS, policyType: "no-policy-found", handshake: true}
	}
	if !good && mode != "none" && mode != "nopolicy" {
		w.result = validate.ResultCertificateNotTrusted
	}
	switch state {
	case daneEE, daneTA:
		w = daneWant{action: Deliver, requireTLS: true, status: DANESecure, policyType: "tlsa", handshake: good}
		if !good {
			w.result = validate.ResultTLSAInvalid
		}
	case daneUnusable:
		w.status, w.requireTLS = DANEUnusable, true
		if w.action == DeliverWithoutSTS {
			w.action, w.policyType, w.result = Deliver, "tlsa", validate.ResultTLSAInvalid
		}
	case daneBogus:
		w = daneWant{action: Refuse, status: DANEBogus, policyType: "tlsa", result: validate.ResultDNSSECInvalid}
	}
	return w
}

// TestDANEPrecedence runs the precedence table over (DANE state x MTA-STS
// mode x certificate), each row with a real STARTTLS handshake configured
// by Decision.TLSConfig against the row's loopback MX host.
func TestDANEPrecedence(t *testing.T) {
	w, hosts := daneWorld(t)
	opts := testOptions(w)
	opts.DNSTimeout, opts.FetchTimeout = 2*time.Second, 5*time.Second
	plain, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	opts.DNSSEC = true
	sec, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sec.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, mode := range []string{"enforce", "testing", "none", "nopolicy"} {
		for _, h := range hosts {
			var state, cert string
			for i := range h {
				if h[i] == '-' {
					state, cert = h[:i], h[i+1:i+5]
					break
				}
			}
			good := cert == "good"
			t.Run(mode+"/"+h, func(t *testing.T) {
				r := sec
				if state == daneOff {
					r = plain
				}
				want := daneExpect(state, mode, good)
				d, err := r.Check(ctx, mode+".test", h)
				if err != nil {
					t.Fatal(err)
				}
				if d.Action != want.action || d.RequireTLS != want.requireTLS || d.DANEStatus != want.status || d.PolicyType() != want.policyType {
					t.Fatalf("Check = %v requireTLS %v dane %v type %s (%s, %v); want %v %v %v %s",
						d.Action, d.RequireTLS, d.DANEStatus, d.PolicyType(), d.Reason, d.Err,
						want.action, want.requireTLS, want.status, want.policyType)
				}
				if d.Action == Refuse {
					if d.Result != want.result {
						t.Errorf("Result = %q; want %q", d.Result, want.result)
					}
					return
				}
				err, reported := starttls(ctx, w, h, &d)
				if (err == nil) != want.handshake {
					t.Fatalf("handshake: %v; want success %v", err, want.handshake)
				}
				if got := validate.ResultOf(reported); got != want.result {
					t.Errorf("reported result %q (%v); want %q", got, reported, want.result)
				}
			})
		}
	}
}

// starttls runs EHLO and STARTTLS against host's SMTP server with the
// configuration of d (over a base that accepts any certificate, as
// opportunistic TLS does), and returns the handshake's error and the last
// validation failure reported (nil if none).
func starttls(ctx context.Context, w *testserver.World, host string, d *Decision) (err, reported error) {
	var mu sync.Mutex
	report := func(e error) {
		mu.Lock()
		defer mu.Unlock()
		if e != nil {
			reported = e
		}
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", w.SMTPAddr(host))
	if err != nil {
		return err, nil
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err, nil
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err, nil
	}
	err = c.StartTLS(d.TLSConfigReport(&tls.Config{InsecureSkipVerify: true}, report))
	mu.Lock()
	defer mu.Unlock()
	if err != nil && reported == nil {
		var ve *validate.Error
		if errors.As(err, &ve) {
			reported = ve
		}
	}
	return err, reported
}

package mtaststest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/smtp"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/mtaststest"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestVerdicts checks that a resolver from the world sees what the world
// publishes, for each row of the decision table that needs no connection.
func TestVerdicts(t *testing.T) {
	w := mtaststest.NewWorld(t)
	w.AddDomain("enforce.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx.enforce.test", "*.pool.enforce.test"}, MaxAge: 3600})
	w.AddDomain("testing.test", mtaststest.Policy{Mode: "testing", MX: []string{"mx.testing.test"}, MaxAge: 3600})
	w.AddDomain("none.test", mtaststest.Policy{Mode: "none", MaxAge: 3600})
	w.AddDomain("servfail.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx.servfail.test"}, MaxAge: 3600})
	w.Fault("_mta-sts.servfail.test", mtaststest.ServFail)
	w.AddDomain("broken.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx.broken.test"}, MaxAge: 3600})
	w.Fault("mta-sts.broken.test", mtaststest.Status(500))
	w.AddDomain("untrusted.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx.untrusted.test"}, MaxAge: 3600})
	w.Fault("mta-sts.untrusted.test", mtaststest.CertUntrusted)
	w.AddMXHost("mx.plain.test")
	w.SetMX("plain.test", "mx.plain.test")
	r := w.Resolver()

	for _, tc := range []struct {
		name, domain, mx string
		action           resolver.Action
		result           validate.ResultType
	}{
		{"enforce_match", "enforce.test", "mx.enforce.test", resolver.Deliver, ""},
		{"enforce_wildcard", "enforce.test", "a.pool.enforce.test", resolver.Deliver, ""},
		{"enforce_mismatch", "enforce.test", "mx.attacker.test", resolver.Refuse, validate.ResultValidationFailure},
		{"testing_mismatch", "testing.test", "mx.attacker.test", resolver.Deliver, validate.ResultValidationFailure},
		{"none", "none.test", "mx.none.test", resolver.DeliverWithoutSTS, ""},
		{"no_policy", "plain.test", "mx.plain.test", resolver.DeliverWithoutSTS, ""},
		{"txt_servfail", "servfail.test", "mx.servfail.test", resolver.Defer, ""},
		{"fetch_500", "broken.test", "mx.broken.test", resolver.DeliverWithoutSTS, validate.ResultSTSPolicyFetchError},
		{"fetch_untrusted", "untrusted.test", "mx.untrusted.test", resolver.DeliverWithoutSTS, validate.ResultSTSWebPKIInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := r.Check(ctxFor(t), tc.domain, tc.mx)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.action || d.Result != tc.result {
				t.Errorf("Check = %v %q (%s), want %v %q", d.Action, d.Result, d.Reason, tc.action, tc.result)
			}
		})
	}
}

// TestPolicyChanges checks that SetPolicy publishes a new id that a fresh
// resolver fetches, and that Fetches counts the fetches.
func TestPolicyChanges(t *testing.T) {
	w := mtaststest.NewWorld(t)
	id1 := w.AddDomain("example.test", mtaststest.Policy{Mode: "testing", MX: []string{"mx1.example.test"}, MaxAge: 3600})
	e, err := w.Resolver().Lookup(ctxFor(t), "example.test")
	if err != nil || e == nil || e.ID != id1 {
		t.Fatalf("Lookup = %+v, %v; want id %s", e, err, id1)
	}
	id2 := w.SetPolicy("example.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx1.example.test"}, MaxAge: 3600, ID: "v2"})
	e, err = w.Resolver().Lookup(ctxFor(t), "example.test")
	if id2 != "v2" || err != nil || e == nil || e.ID != "v2" || e.Policy.Mode.String() != "enforce" {
		t.Fatalf("after SetPolicy: Lookup = %+v, %v", e, err)
	}
	if n := w.Fetches("example.test"); n != 2 {
		t.Errorf("Fetches = %d, want 2", n)
	}
	w.RemovePolicy("example.test")
	if e, err := w.Resolver().Lookup(ctxFor(t), "example.test"); e != nil || err != nil {
		t.Errorf("after RemovePolicy: Lookup = %+v, %v; want nil, nil", e, err)
	}
}

// TestDelivery sends a message through DialContext under each SMTP fault.
func TestDelivery(t *testing.T) {
	w := mtaststest.NewWorld(t)
	w.AddDomain("example.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx1.example.test"}, MaxAge: 3600})
	r := w.Resolver()
	send := func(t *testing.T) error {
		ctx := ctxFor(t)
		d, err := r.Check(ctx, "example.test", "mx1.example.test")
		if err != nil || d.Action != resolver.Deliver {
			t.Fatalf("Check = %+v, %v", d, err)
		}
		conn, err := w.DialContext(ctx, "tcp", "mx1.example.test:25")
		if err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClient(conn, "mx1.example.test")
		if err != nil {
			conn.Close()
			t.Fatal(err)
		}
		defer c.Close()
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("no STARTTLS")
		}
		if err := c.StartTLS(d.TLSConfig(&tls.Config{})); err != nil {
			return err
		}
		if err := c.Mail("a@origin.test"); err != nil {
			return err
		}
		if err := c.Rcpt("b@example.test"); err != nil {
			return err
		}
		data, err := c.Data()
		if err != nil {
			return err
		}
		io.WriteString(data, "Subject: t\r\n\r\nbody\r\n")
		return data.Close()
	}
	t.Run("ok", func(t *testing.T) {
		if err := send(t); err != nil {
			t.Fatal(err)
		}
		msgs := w.Messages("mx1.example.test")
		if len(msgs) != 1 || !msgs[0].TLS || msgs[0].ServerName != "mx1.example.test" || msgs[0].To[0] != "b@example.test" {
			t.Fatalf("messages = %+v", msgs)
		}
	})
	for _, tc := range []struct {
		name   string
		fault  mtaststest.Fault
		result validate.ResultType
	}{
		{"expired", mtaststest.CertExpired, validate.ResultCertificateExpired},
		{"wrong_host", mtaststest.CertWrongHost, validate.ResultCertificateHostMismatch},
		{"untrusted", mtaststest.CertUntrusted, validate.ResultCertificateNotTrusted},
		{"no_starttls", mtaststest.NoSTARTTLS, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.Fault("mx1.example.test", tc.fault)
			defer w.ClearFaults()
			err := send(t)
			if err == nil {
				t.Fatal("delivered despite the fault")
			}
			if tc.result != "" && validate.ResultOf(err) != tc.result {
				t.Errorf("result %q (%v), want %q", validate.ResultOf(err), err, tc.result)
			}
		})
	}
	if n := len(w.Messages("mx1.example.test")); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// TestResolverClosed checks that the resolvers of a world close with it.
func TestResolverClosed(t *testing.T) {
	var r *resolver.Resolver
	t.Run("inner", func(t *testing.T) {
		w := mtaststest.NewWorld(t)
		r = w.Resolver()
	})
	if _, err := r.Check(context.Background(), "example.test", "mx.example.test"); !errors.Is(err, resolver.ErrClosed) {
		t.Errorf("Check after the test = %v, want ErrClosed", err)
	}

	w, err := mtaststest.New()
	if err != nil {
		t.Fatal(err)
	}
	r = w.Resolver()
	w.Close()
	w.Close()
	if _, err := r.Lookup(context.Background(), "example.test"); !errors.Is(err, resolver.ErrClosed) {
		t.Errorf("Lookup after Close = %v, want ErrClosed", err)
	}
}

// TestLoopbackOnly checks that the world dials nothing outside loopback.
func TestLoopbackOnly(t *testing.T) {
	w := mtaststest.NewWorld(t)
	for _, addr := range []string{"192.0.2.1:25", "mx.nowhere.test:25"} {
		if c, err := w.DialContext(ctxFor(t), "tcp", addr); err == nil {
			c.Close()
			t.Errorf("DialContext(%s) succeeded", addr)
		}
	}
	host, _, err := net.SplitHostPort(w.DNSAddr())
	if err != nil || !net.ParseIP(host).IsLoopback() {
		t.Errorf("DNSAddr %s is not loopback", w.DNSAddr())
	}
}

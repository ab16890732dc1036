package smtpc

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOverridesSet(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{"mx.test=127.0.0.1:2525", true},
		{"MX.Test.=:2525", true},
		{"*=:25", true},
		{"mx.test=[::1]:25", true},
		{"mx.test", false},
		{"=127.0.0.1:25", false},
		{"mx.test=127.0.0.1", false},
		{"mx.test=host.test:25", false},
		{"mx.test=127.0.0.1:", false},
	} {
		o := Overrides{}
		if err := o.Set(tc.v); (err == nil) != tc.ok {
			t.Errorf("Set(%q) = %v, want ok %v", tc.v, err, tc.ok)
		}
	}
	o := Overrides{}
	o.Set("MX.Test.=:2525")
	if o["mx.test"] != ":2525" || o.String() != "mx.test=:2525" {
		t.Errorf("overrides %v", o)
	}
}

// TestOverridesRegister: -smtp-addr, repeated, fills the Overrides.
func TestOverridesRegister(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	o := Overrides{}
	o.Register(fs)
	if err := fs.Parse([]string{"-smtp-addr", "mx1.test=127.0.0.1:25", "-smtp-addr", "*=:2525"}); err != nil {
		t.Fatal(err)
	}
	if len(o) != 2 || o["mx1.test"] != "127.0.0.1:25" || o["*"] != ":2525" {
		t.Errorf("overrides %v", o)
	}
}

// TestDialSession dials a world's MX host three ways and talks SMTP to it.
func TestDialSession(t *testing.T) {
	w := testserver.Start(t)
	if _, err := w.AddDomain("example.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.example.test"}, MaxAge: 60}); err != nil {
		t.Fatal(err)
	}
	addr := w.SMTPAddr("mx.example.test")
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// dial dials host through the world's DNS and o, and greets it.
	dial := func(t *testing.T, o Overrides, host string) *Client {
		t.Helper()
		d := &Dialer{DNS: dnsclient.New([]string{w.DNSAddr()}, 0), Overrides: o}
		conn, err := d.Dial(ctx, host)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(ctx, conn, "client.test")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for name, o := range map[string]Overrides{
		"address":  {"mx.example.test": addr},
		"port":     {"mx.example.test": ":" + port},
		"wildcard": {"*": ":" + port},
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, o, "mx.example.test.")
			defer c.Close()
			if !c.Extension("starttls") || c.TLS() != nil {
				t.Fatalf("STARTTLS not offered, or TLS already")
			}
			if err := c.StartTLS(ctx, &tls.Config{ServerName: "mx.example.test", RootCAs: w.RootCAs()}); err != nil {
				t.Fatal(err)
			}
			if err := c.Send("a@origin.test", []string{"b@example.test"}, strings.NewReader("Subject: "+name+"\r\n\r\n.dot\r\n")); err != nil {
				t.Fatal(err)
			}
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
		})
	}
	msgs := w.Messages("mx.example.test")
	subjects := map[string]bool{}
	for _, m := range msgs {
		if m.TLS {
			subjects[string(m.Data)] = true
		}
	}
	// The subtests run in map order: look for each message, in any order.
	for _, name := range []string{"address", "port", "wildcard"} {
		if !subjects["Subject: "+name+"\r\n\r\n.dot\r\n"] {
			t.Errorf("no message %q over TLS among %+v", name, msgs)
		}
	}
	w.Fault("mx.example.test", testserver.NoSTARTTLS)
	c := dial(t, Overrides{"*": addr}, "mx.example.test")
	defer c.Close()
	if err := c.StartTLS(ctx, &tls.Config{}); !errors.Is(err, ErrNoSTARTTLS) {
		t.Errorf("StartTLS without STARTTLS = %v", err)
	}
}

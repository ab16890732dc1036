package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
)

// send delivers one message to host's SMTP server with net/smtp, using
// STARTTLS when startTLS is set (with SNI host and the world's roots).
func send(t *testing.T, w *World, host string, startTLS bool, body string) error {
	t.Helper()
	c, err := smtp.Dial(w.SMTPAddr(host))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("sender.test"); err != nil {
		return err
	}
	if startTLS {
		if err := c.StartTLS(&tls.Config{ServerName: host, RootCAs: w.RootCAs()}); err != nil {
			return err
		}
	}
	if err := c.Mail("a@sender.test"); err != nil {
		return err
	}
	for _, rcpt := range []string{"b@example.test", "c@example.test"} {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := wc.Write([]byte(body)); err != nil {
		return err
	}
	if err := wc.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestSMTPDelivery(t *testing.T) {
	w := startDomain(t)
	const body = "Subject: hi\r\n\r\n.leading dot\r\nend\r\n"
	if err := send(t, w, "mx1.example.test", true, body); err != nil {
		t.Fatal(err)
	}
	if err := send(t, w, "mx1.example.test", false, body); err != nil {
		t.Fatal(err)
	}
	m := w.Messages("MX1.example.test.")
	if len(m) != 2 {
		t.Fatalf("%d messages, want 2", len(m))
	}
	if m[0].Host != "mx1.example.test" || m[0].From != "a@sender.test" || strings.Join(m[0].To, ",") != "b@example.test,c@example.test" || string(m[0].Data) != body {
		t.Errorf("message %+v", m[0])
	}
	if !m[0].TLS || m[0].ServerName != "mx1.example.test" || m[1].TLS {
		t.Errorf("TLS %v (%q), then %v; want true, false", m[0].TLS, m[0].ServerName, m[1].TLS)
	}
	if w.SMTPAddr("mx2.example.test") != "" {
		t.Error("SMTPAddr of an unknown host is not empty")
	}
}

func TestSMTPOwnListenerPerHost(t *testing.T) {
	w := Start(t)
	if _, err := w.AddDomain("example.test", Policy{Mode: "enforce", MX: []string{"mx1.example.test", "mx2.example.test"}, MaxAge: 60}); err != nil {
		t.Fatal(err)
	}
	a1, a2 := w.SMTPAddr("mx1.example.test"), w.SMTPAddr("mx2.example.test")
	if a1 == "" || a2 == "" || a1 == a2 {
		t.Fatalf("addresses %q and %q", a1, a2)
	}
	if again, _ := w.AddSMTPHost("mx1.example.test"); again != a1 {
		t.Errorf("AddSMTPHost moved the host from %s to %s", a1, again)
	}
	if err := send(t, w, "mx2.example.test", true, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	if len(w.Messages("mx1.example.test")) != 0 || len(w.Messages("mx2.example.test")) != 1 {
		t.Error("message recorded at the wrong host")
	}
}

func TestSMTPFaults(t *testing.T) {
	w := startDomain(t)
	const host = "mx1.example.test"

	t.Run("no_starttls", func(t *testing.T) {
		w.Fault(host, NoSTARTTLS)
		c, err := smtp.Dial(w.SMTPAddr(host))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ok, _ := c.Extension("STARTTLS"); ok {
			t.Error("STARTTLS offered")
		}
		err = c.StartTLS(&tls.Config{ServerName: host, RootCAs: w.RootCAs()})
		if code := smtpCode(err); code != 502 {
			t.Errorf("err = %v, want 502", err)
		}
	})
	t.Run("starttls_refused", func(t *testing.T) {
		w.Fault(host, STARTTLSRefused)
		c, err := smtp.Dial(w.SMTPAddr(host))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Error("STARTTLS not offered")
		}
		err = c.StartTLS(&tls.Config{ServerName: host, RootCAs: w.RootCAs()})
		if code := smtpCode(err); code != 454 {
			t.Errorf("err = %v, want 454", err)
		}
	})
	t.Run("bad_certificate", func(t *testing.T) {
		w.Fault(host, CertExpired)
		err := send(t, w, host, true, "x\r\n")
		if !isInvalid(x509.Expired)(err) {
			t.Errorf("err = %v, want an expired certificate", err)
		}
	})
	t.Run("wildcard_certificate", func(t *testing.T) {
		w.Fault(host, CertWildcard)
		if err := send(t, w, host, true, "x\r\n"); err != nil {
			t.Error(err)
		}
	})
	t.Run("cleared", func(t *testing.T) {
		w.Fault(host)
		if err := send(t, w, host, true, "x\r\n"); err != nil {
			t.Error(err)
		}
	})
}

// TestSMTPNoSNI checks that a client sending no SNI gets the certificate of
// the host whose listener it reached.
func TestSMTPNoSNI(t *testing.T) {
	w := startDomain(t)
	c, err := smtp.Dial(w.SMTPAddr("mx1.example.test"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Hello("sender.test")
	cfg := &tls.Config{InsecureSkipVerify: true}
	if err := c.StartTLS(cfg); err != nil {
		t.Fatal(err)
	}
	st, _ := c.TLSConnectionState()
	if names := st.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != "mx1.example.test" {
		t.Errorf("names %v", names)
	}
	if w.Handshakes("mx1.example.test") != 1 {
		t.Errorf("Handshakes = %d", w.Handshakes("mx1.example.test"))
	}
}

func TestSMTPProtocolErrors(t *testing.T) {
	w := startDomain(t)
	conn, err := textproto.Dial("tcp", w.SMTPAddr("mx1.example.test"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, _, err := conn.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		cmd  string
		code int
	}{
		{"MAIL FROM:<a@b>", 503},
		{"EHLO sender.test", 250},
		{"RCPT TO:<a@b>", 503},
		{"MAIL FROM:a@b", 501},
		{"MAIL FROM:<>", 250},
		{"DATA", 503},
		{"RCPT TO:<a@b>", 250},
		{"RSET", 250},
		{"NOOP", 250},
		{"BOGUS", 500},
		{"QUIT", 221},
	}
	for _, s := range steps {
		id, err := conn.Cmd("%s", s.cmd)
		if err != nil {
			t.Fatal(err)
		}
		conn.StartResponse(id)
		code, msg, err := conn.ReadResponse(s.code)
		conn.EndResponse(id)
		if err != nil {
			t.Errorf("%s: %d %s, want %d", s.cmd, code, msg, s.code)
		}
	}
}

func smtpCode(err error) int {
	var e *textproto.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

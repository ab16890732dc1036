package mtaststest_test

// The code below the imports is README.md's delivery code and its test,
// character for character: TestREADME checks that README.md shows them
// as they are here, and Example runs the delivery code against the
// loopback world.

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"testing"

	"github.com/mtasts-go/mtasts/mtaststest"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/tlsrpt"
	"github.com/mtasts-go/mtasts/validate"
)

// errTryLater: keep the message queued and retry later (a 4xx). Any other
// error from deliver is permanent: bounce the message (a 5xx).
var errTryLater = errors.New("try again later")

// mta is a sending MTA: one resolver and one TLS-RPT recorder per process.
type mta struct {
	r        *resolver.Resolver // resolver.New(resolver.Options{}): system DNS and roots
	rec      *tlsrpt.Recorder   // tlsrpt.NewRecorder(tlsrpt.Options{}): the daily TLS-RPT counts
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	hostname string // said in EHLO
}

// deliver sends msg from from to rcpt at domain, trying the MX hosts of
// domain (net.Resolver.LookupMX's answer, in preference order) under the
// domain's MTA-STS policy.
func (m *mta) deliver(ctx context.Context, domain string, mxs []*net.MX, from, rcpt string, msg []byte) error {
	for _, mx := range mxs {
		d, err := m.r.Check(ctx, domain, mx.Host)
		var de *resolver.DomainError
		switch {
		case errors.As(err, &de):
			return err // not a domain name: bounce
		case err != nil:
			return fmt.Errorf("%w: %v", errTryLater, err) // ctx done, or the resolver closed
		case d.Action == resolver.Defer:
			return fmt.Errorf("%w: %s", errTryLater, d.Reason) // the policy is unknown (DNS failure)
		case d.Action == resolver.Refuse:
			m.record(&d, "") // validation-failure: the MX host matches no mx of the policy
			continue         // never bounce for MTA-STS: when no MX host is left, try later
		}
		err = m.attempt(ctx, &d, from, rcpt, msg)
		var te *textproto.Error
		switch {
		case err == nil:
			return nil // delivered
		case errors.As(err, &te) && te.Code >= 500:
			return err // the MX host refused the message: bounce
		}
		// Not this MX host (no connection, a failed handshake, no
		// STARTTLS under enforce): try the next.
	}
	return fmt.Errorf("%w: no MX host took the message", errTryLater)
}

// attempt is one SMTP session with the MX host of d.
func (m *mta) attempt(ctx context.Context, d *resolver.Decision, from, rcpt string, msg []byte) error {
	conn, err := m.dial(ctx, "tcp", net.JoinHostPort(d.MX, "25"))
	if err != nil {
		return err // not a TLS result: nothing to record (RFC 8460 section 4.3.4)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, d.MX)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close() // every return below closes the connection
	if err := c.Hello(m.hostname); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		m.record(d, validate.ResultStartTLSNotSupported)
		if d.RequireTLS {
			return errors.New(d.MX + ": no STARTTLS under an enforce policy") // never plaintext
		}
		// Otherwise deliver in plaintext, as without MTA-STS.
	} else {
		// The base is opportunistic TLS (RFC 7435), which accepts any
		// certificate: InsecureSkipVerify. Under a testing or enforce
		// policy the verdict's configuration replaces that with the
		// policy's own validation (the MX host and its certificate), whose
		// outcome the hook receives. Without a policy (or under mode none)
		// the base applies as is: a base that verifies certificates
		// (&tls.Config{}) would fail the handshake with the many MX hosts
		// whose certificate is self-signed or for another name.
		var verr error
		err := c.StartTLS(d.TLSConfigReport(&tls.Config{InsecureSkipVerify: true}, func(err error) { verr = err }))
		// The session's result: the policy's verdict on the certificate
		// (a failure under testing does not stop the handshake), else the
		// handshake's error, "" (success) if neither.
		m.record(d, validate.ResultOf(cmp.Or(verr, err)))
		if err != nil {
			return err // under enforce, a certificate the policy rejects
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	c.Quit() // the message is accepted: a failed QUIT changes nothing
	return nil
}

// record counts one session in the day's TLS-RPT report for the policy
// domain: the verdict's own result if it has one (a failed policy fetch,
// an MX host outside the policy), else what the session found ("" is
// success). Under mode none, or with no policy, it counts as
// no-policy-found.
func (m *mta) record(d *resolver.Decision, found validate.ResultType) {
	res := tlsrpt.Result{Domain: d.Domain, ReceivingMX: d.MX, ResultType: cmp.Or(d.Result, found)}
	if d.Action != resolver.DeliverWithoutSTS {
		res.Policy = d.Policy
	}
	m.rec.Record(res)
}

func TestDeliver(t *testing.T) {
	w := mtaststest.NewWorld(t) // stopped, with its resolvers, when the test ends
	w.AddDomain("example.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx1.example.test", "mx2.example.test"}, MaxAge: 86400})
	w.Fault("mx1.example.test", mtaststest.CertExpired) // also ServFail, Status(500), NoSTARTTLS, CertWrongHost...
	m := &mta{r: w.Resolver(), rec: tlsrpt.NewRecorder(tlsrpt.Options{}), dial: w.DialContext, hostname: "mta.origin.test"}

	ctx := context.Background()
	mxs, err := w.LookupMX(ctx, "example.test") // through the world's DNS
	if err != nil {
		t.Fatal(err)
	}
	err = m.deliver(ctx, "example.test", mxs, "alice@origin.test", "bob@example.test", []byte("Subject: hi\r\n\r\nhello\r\n"))
	if got := w.Messages("mx2.example.test"); err != nil || len(got) != 1 || !got[0].TLS {
		t.Fatalf("err %v, mx2 got %+v, want 1 message over TLS", err, got)
	}
}

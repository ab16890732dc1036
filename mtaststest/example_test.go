package mtaststest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/mtasts-go/mtasts/mtaststest"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

// deliver is the code under test: a toy MTA that tries the MX hosts of
// domain in order, asks the resolver about each, and sends msg over
// STARTTLS with the configuration the verdict gives. It returns the MX host
// that took the message.
func deliver(ctx context.Context, r *resolver.Resolver, dial func(context.Context, string, string) (net.Conn, error),
	domain string, mxs []string, msg string) (string, error) {
	for _, mx := range mxs {
		d, err := r.Check(ctx, domain, mx)
		if err != nil || d.Action == resolver.Defer {
			return "", errors.New("try again later")
		}
		if d.Action == resolver.Refuse {
			fmt.Printf("%s: refused: %s\n", mx, d.Reason)
			continue
		}
		conn, err := dial(ctx, "tcp", net.JoinHostPort(mx, "25"))
		if err != nil {
			continue
		}
		c, err := smtp.NewClient(conn, mx)
		if err != nil {
			conn.Close()
			continue
		}
		// The verdict's configuration checks the certificate against the
		// policy: under enforce, a bad one fails the handshake.
		if err := c.StartTLS(d.TLSConfig(&tls.Config{})); err != nil {
			fmt.Printf("%s: %s\n", mx, validate.ResultOf(err))
			c.Close()
			continue
		}
		err = c.Mail("sender@origin.test")
		if err == nil {
			err = c.Rcpt("rcpt@" + domain)
		}
		if err == nil {
			var data io.WriteCloser
			if data, err = c.Data(); err == nil {
				io.WriteString(data, msg)
				err = data.Close()
			}
		}
		c.Quit()
		if err == nil {
			return mx, nil
		}
	}
	return "", errors.New("no MX host took the message; try again later")
}

// A test of a delivery function: the first MX host's certificate has
// expired, so under an enforce policy the message must go to the second.
func Example() {
	w, err := mtaststest.New() // in a test: w := mtaststest.NewWorld(t)
	if err != nil {
		panic(err)
	}
	defer w.Close()
	w.AddDomain("example.test", mtaststest.Policy{Mode: "enforce", MaxAge: 86400,
		MX: []string{"mx1.example.test", "mx2.example.test"}})
	w.Fault("mx1.example.test", mtaststest.CertExpired)
	w.AddMXHost("mx.attacker.test") // not in the policy

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mx, err := deliver(ctx, w.Resolver(), w.DialContext, "example.test",
		[]string{"mx.attacker.test", "mx1.example.test", "mx2.example.test"}, "Subject: hi\r\n\r\nhello\r\n")
	fmt.Println("delivered to", mx, err)

	for _, m := range w.Messages("mx2.example.test") {
		fmt.Printf("mx2 got %q over TLS %v, SNI %s\n", strings.TrimSpace(string(m.Data)), m.TLS, m.ServerName)
	}
	fmt.Println("mx1 and the attacker got", len(w.Messages("mx1.example.test"))+len(w.Messages("mx.attacker.test")))
	// Output:
	// mx.attacker.test: refused: mx does not match the policy
	// mx1.example.test: certificate-expired
	// delivered to mx2.example.test <nil>
	// mx2 got "Subject: hi\r\n\r\nhello" over TLS true, SNI mx2.example.test
	// mx1 and the attacker got 0
}

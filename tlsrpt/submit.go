package tlsrpt

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SubmitOptions configure [SubmitSMTP].
type SubmitOptions struct {
	// Addr is the submission server, "host:port" (587 for STARTTLS, 465
	// for implicit TLS).
	Addr string
	// TLS is "starttls" (the default: STARTTLS, which the server must
	// offer), "implicit" (TLS from the first byte), or "none" (plain
	// text; for a server on loopback only).
	TLS string
	// TLSConfig verifies the server; ServerName defaults to Addr's host.
	// Default: the system roots.
	TLSConfig *tls.Config
	// Username and Password, if Username is set, authenticate with AUTH
	// PLAIN, which SubmitSMTP only sends over TLS.
	Username, Password string
	// Timeout bounds a whole submission. Default DefaultTimeout.
	Timeout time.Duration
}

// SubmitSMTP returns a function for ReporterOptions.Submit that sends
// each report message through the submission server o.Addr with the
// go-smtp client: EHLO localhost, STARTTLS (or implicit TLS), AUTH PLAIN
// if configured, MAIL, RCPT, DATA. A 5xx reply comes back as a *smtp.SMTPError, which
// the Reporter treats as permanent.
func SubmitSMTP(o SubmitOptions) func(ctx context.Context, from string, to []string, msg []byte) error {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return func(ctx context.Context, from string, to []string, msg []byte) error {
		ctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		host, _, err := net.SplitHostPort(o.Addr)
		if err != nil {
			return Permanent(fmt.Errorf("tlsrpt: submission address %q: %w", o.Addr, err))
		}
		cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if o.TLSConfig != nil {
			cfg = o.TLSConfig.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = host
			}
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", o.Addr)
		if err != nil {
			return err
		}
		// The deadline covers the whole session; cancelling ctx closes it.
		if dl, ok := ctx.Deadline(); ok {
			conn.SetDeadline(dl)
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()

		var c *smtp.Client
		switch o.TLS {
		case "", "starttls":
			c, err = smtp.NewClientStartTLS(conn, cfg)
		case "implicit":
			c = smtp.NewClient(tls.Client(conn, cfg))
		case "none":
			c = smtp.NewClient(conn)
		default:
			conn.Close()
			return Permanent(fmt.Errorf("tlsrpt: SubmitOptions.TLS %q", o.TLS))
		}
		if err != nil {
			conn.Close()
			return fmt.Errorf("tlsrpt: submission to %s: %w", o.Addr, err)
		}
		defer c.Close()
		if o.Username != "" {
			if _, ok := c.TLSConnectionState(); !ok {
				return Permanent(fmt.Errorf("tlsrpt: submission to %s: AUTH without TLS refused", o.Addr))
			}
			if err := c.Auth(sasl.NewPlainClient("", o.Username, o.Password)); err != nil {
				return fmt.Errorf("tlsrpt: submission to %s: %w", o.Addr, err)
			}
		}
		if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
			return fmt.Errorf("tlsrpt: submission to %s: %w", o.Addr, err)
		}
		c.Quit()
		return nil
	}
}

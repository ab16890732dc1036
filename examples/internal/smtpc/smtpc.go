// Package smtpc is the small SMTP client of the example programs: it dials
// an MX host, says EHLO, upgrades with STARTTLS under a given tls.Config and
// sends one message (RFC 5321, RFC 3207).
//
// It is written for the examples rather than taken from net/smtp because
// the examples must see the TLS handshake as a step of its own: its error is
// what a sender reports through TLS-RPT, and under MTA-STS it decides
// whether the next MX host is tried.
package smtpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
)

// ErrNoSTARTTLS is returned by StartTLS when the server does not offer
// STARTTLS, or answers the command with an error.
var ErrNoSTARTTLS = errors.New("smtp: server does not offer STARTTLS")

// Client is one SMTP session. It is not safe for concurrent use.
type Client struct {
	conn net.Conn
	text *textproto.Conn
	ext  map[string]string // EHLO keywords, upper case → parameters
	tls  *tls.ConnectionState
	name string // our EHLO name
	stop func() bool
}

// NewClient starts a session on conn, which it owns from now on: it reads
// the greeting and says EHLO name. The connection is closed, and every call
// fails, once ctx is done; the caller still calls Close.
func NewClient(ctx context.Context, conn net.Conn, name string) (*Client, error) {
	c := &Client{conn: conn, text: textproto.NewConn(conn), name: name}
	c.stop = context.AfterFunc(ctx, func() { conn.Close() })
	if _, _, err := c.text.ReadResponse(220); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.hello(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) hello() error {
	_, msg, err := c.cmd(250, "EHLO %s", c.name)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] { // the first line is the server's name
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// Extension reports whether the server announced the EHLO keyword ext.
func (c *Client) Extension(ext string) bool {
	_, ok := c.ext[strings.ToUpper(ext)]
	return ok
}

// StartTLS upgrades the session with STARTTLS and the configuration cfg,
// then says EHLO again. It returns ErrNoSTARTTLS (wrapped with the server's
// reply, if any) when the server does not offer or refuses STARTTLS, and
// the handshake's own error, unwrapped, when the handshake fails; the
// session is then unusable.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config) error {
	if !c.Extension("STARTTLS") {
		return ErrNoSTARTTLS
	}
	if _, msg, err := c.cmd(220, "STARTTLS"); err != nil {
		return fmt.Errorf("%w: %s", ErrNoSTARTTLS, msg)
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	cs := tc.ConnectionState()
	c.conn, c.text, c.tls = tc, textproto.NewConn(tc), &cs
	return c.hello()
}

// TLS returns the state of the TLS connection, or nil before StartTLS.
func (c *Client) TLS() *tls.ConnectionState { return c.tls }

// Send sends one message: MAIL FROM, one RCPT TO per recipient, DATA. msg
// is the message with lines ending in CRLF or LF; Send dot-stuffs it. A
// negative reply is returned as a *textproto.Error with the server's code.
func (c *Client) Send(from string, to []string, msg io.Reader) error {
	if _, _, err := c.cmd(250, "MAIL FROM:<%s>", from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if _, _, err := c.cmd(25, "RCPT TO:<%s>", rcpt); err != nil {
			return err
		}
	}
	if _, _, err := c.cmd(354, "DATA"); err != nil {
		return err
	}
	w := c.text.DotWriter()
	if _, err := io.Copy(w, msg); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	_, _, err := c.text.ReadResponse(250)
	return err
}

// Quit says QUIT and closes the session.
func (c *Client) Quit() error {
	_, _, err := c.cmd(221, "QUIT")
	c.Close()
	return err
}

// Close closes the connection without a word to the server.
func (c *Client) Close() error {
	c.stop()
	return c.conn.Close()
}

// cmd sends a command and reads the reply, which must have the code
// expected (or start with its digits: 25 accepts 250 and 251).
func (c *Client) cmd(expect int, format string, args ...any) (int, string, error) {
	id, err := c.text.Cmd(format, args...)
	if err != nil {
		return 0, "", err
	}
	c.text.StartResponse(id)
	defer c.text.EndResponse(id)
	return c.text.ReadResponse(expect)
}

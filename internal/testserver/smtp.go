package testserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// The SMTP server is written here rather than taken from
// github.com/emersion/go-smtp: that server cannot offer STARTTLS and then
// refuse it, and its Close does not wait for the goroutines of its
// connections, which the world must do.

const (
	maxSMTPCommands = 1000     // per connection
	maxSMTPLine     = 4096     // bytes, CRLF included
	maxRecipients   = 100      // per message
	maxMessage      = 10 << 20 // bytes
	smtpIdle        = 5 * time.Minute
)

// Message is a message an SMTP host of the world accepted.
type Message struct {
	Host       string   // the MX host that received it, without trailing dot
	From       string   // MAIL FROM address, without angle brackets
	To         []string // RCPT TO addresses, without angle brackets
	Data       []byte   // the message, dot-unstuffed, lines ending in CRLF
	TLS        bool     // whether STARTTLS preceded the transaction
	ServerName string   // the SNI the client sent in STARTTLS, if any
	AuthUser   string   // the user of an AUTH PLAIN that preceded it, if any
}

type smtpHost struct {
	name string // canonical
	ln   net.Listener
	addr string
}

// AddSMTPHost starts an SMTP server for host on a listener of its own (so a
// client's choice of MX is visible in where it connects) and returns its
// address; a host that has one already keeps it. The server offers
// STARTTLS with a certificate for host from the world's CA, or for the
// client's SNI when it sends one.
func (w *World) AddSMTPHost(host string) (string, error) {
	name := canon(host)
	w.mu.Lock()
	if h, ok := w.smtp[name]; ok {
		w.mu.Unlock()
		return h.addr, nil
	}
	w.mu.Unlock()

	ln, err := w.listen(0)
	if err != nil {
		return "", fmt.Errorf("testserver: smtp %s: %w", display(name), err)
	}
	h := &smtpHost{name: name, ln: ln, addr: ln.Addr().String()}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		ln.Close()
		return "", fmt.Errorf("testserver: smtp %s: %w", display(name), net.ErrClosed)
	}
	if old, ok := w.smtp[name]; ok { // lost a race with another caller
		ln.Close()
		return old.addr, nil
	}
	w.smtp[name] = h
	w.goTracked(func() { w.acceptSMTP(h) })
	return h.addr, nil
}

// SMTPAddr returns the host:port of host's SMTP server, or "" when host has
// none (see [World.AddSMTPHost] and [World.AddDomain]).
func (w *World) SMTPAddr(host string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if h, ok := w.smtp[canon(host)]; ok {
		return h.addr
	}
	return ""
}

// Messages returns the messages host accepted, oldest first.
func (w *World) Messages(host string) []Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Message(nil), w.messages[canon(host)]...)
}

func (w *World) acceptSMTP(h *smtpHost) {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return // closed by Close; nothing else fails on loopback
		}
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			c.Close()
			return
		}
		w.smtpConns[c] = struct{}{}
		w.mu.Unlock()
		w.goTracked(func() {
			defer func() {
				w.mu.Lock()
				delete(w.smtpConns, c)
				w.mu.Unlock()
				c.Close()
			}()
			w.serveSMTP(h, c)
		})
	}
}

// smtpSession is the state of one SMTP connection.
type smtpSession struct {
	w    *World
	host *smtpHost
	conn net.Conn
	r    *bufio.Reader

	tls        bool
	serverName string
	helo       bool
	authUser   string
	from       *string
	to         []string
}

func (w *World) serveSMTP(h *smtpHost, c net.Conn) {
	s := &smtpSession{w: w, host: h, conn: c, r: bufio.NewReaderSize(c, maxSMTPLine)}
	if !s.reply("220 %s ESMTP mtasts testserver", display(h.name)) {
		return
	}
	for range maxSMTPCommands {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				s.reply("500 5.5.2 line too long")
			}
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		if !s.command(strings.ToUpper(verb), arg) {
			return
		}
	}
	s.reply("421 4.7.0 too many commands")
}

// command runs one command and reports whether the session goes on.
func (s *smtpSession) command(verb, arg string) bool {
	switch verb {
	case "EHLO":
		s.helo, s.from, s.to = true, nil, nil
		lines := []string{display(s.host.name), "8BITMIME", fmt.Sprintf("SIZE %d", maxMessage)}
		if !s.tls && !s.has(NoSTARTTLS) {
			lines = append(lines, "STARTTLS")
		}
		if s.tls {
			lines = append(lines, "AUTH PLAIN") // any user and password, over TLS only
		}
		var b strings.Builder
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			b.WriteString("250" + sep + l + "\r\n")
		}
		_, err := io.WriteString(s.conn, b.String())
		return err == nil
	case "HELO":
		s.helo, s.from, s.to = true, nil, nil
		return s.reply("250 %s", display(s.host.name))
	case "STARTTLS":
		return s.startTLS()
	case "AUTH":
		return s.auth(arg)
	case "MAIL":
		addr, ok := path(arg, "FROM:")
		switch {
		case !s.helo:
			return s.reply("503 5.5.1 EHLO first")
		case s.from != nil:
			return s.reply("503 5.5.1 nested MAIL")
		case !ok:
			return s.reply("501 5.5.4 syntax: MAIL FROM:<address>")
		}
		s.from = &addr
		return s.reply("250 2.1.0 ok")
	case "RCPT":
		addr, ok := path(arg, "TO:")
		switch {
		case s.from == nil:
			return s.reply("503 5.5.1 MAIL first")
		case !ok || addr == "":
			return s.reply("501 5.5.4 syntax: RCPT TO:<address>")
		case len(s.to) >= maxRecipients:
			return s.reply("452 4.5.3 too many recipients")
		}
		s.to = append(s.to, addr)
		return s.reply("250 2.1.5 ok")
	case "DATA":
		if len(s.to) == 0 {
			return s.reply("503 5.5.1 RCPT first")
		}
		return s.data()
	case "RSET":
		s.from, s.to = nil, nil
		return s.reply("250 2.0.0 ok")
	case "NOOP":
		return s.reply("250 2.0.0 ok")
	case "QUIT":
		s.reply("221 2.0.0 bye")
		return false
	}
	return s.reply("500 5.5.2 command not recognised")
}

func (s *smtpSession) startTLS() bool {
	switch {
	case s.tls:
		return s.reply("503 5.5.1 TLS already active")
	case s.has(NoSTARTTLS):
		return s.reply("502 5.5.1 STARTTLS not implemented")
	case s.has(STARTTLSRefused):
		return s.reply("454 4.7.0 TLS not available")
	}
	if !s.reply("220 2.0.0 ready to start TLS") {
		return false
	}
	tc := tls.Server(s.conn, s.w.tlsConfig(s.host.name, nil))
	ctx, cancel := context.WithTimeout(s.w.ctx, time.Minute)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return false
	}
	// Whatever the client pipelined before the handshake is dropped
	// (RFC 3207 §4.2), and the session starts again.
	s.conn, s.r = tc, bufio.NewReaderSize(tc, maxSMTPLine)
	s.tls, s.serverName = true, tc.ConnectionState().ServerName
	s.helo, s.from, s.to, s.authUser = false, nil, nil, ""
	return true
}

func (s *smtpSession) data() bool {
	if !s.reply("354 end data with <CR><LF>.<CR><LF>") {
		return false
	}
	var buf bytes.Buffer
	bol := true // at the beginning of a line
	for buf.Len() <= maxMessage {
		line, err := s.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return false
		}
		start := bol
		bol = err == nil
		if !start {
			buf.Write(line)
			continue
		}
		if string(line) == ".\r\n" || string(line) == ".\n" {
			m := Message{Host: display(s.host.name), From: *s.from, To: s.to, Data: buf.Bytes(), TLS: s.tls, ServerName: s.serverName,
				AuthUser: s.authUser}
			s.w.mu.Lock()
			s.w.messages[s.host.name] = append(s.w.messages[s.host.name], m)
			s.w.mu.Unlock()
			s.from, s.to = nil, nil
			return s.reply("250 2.0.0 ok: queued")
		}
		if len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		buf.Write(line)
	}
	s.reply("552 5.3.4 message too big")
	return false
}

// auth accepts AUTH PLAIN with the initial response, any user and
// password, over TLS only (RFC 4954, RFC 4616).
func (s *smtpSession) auth(arg string) bool {
	mech, resp, _ := strings.Cut(arg, " ")
	switch {
	case !s.tls:
		return s.reply("538 5.7.11 encryption required")
	case !strings.EqualFold(mech, "PLAIN") || resp == "":
		return s.reply("504 5.5.4 only AUTH PLAIN with an initial response")
	case s.authUser != "":
		return s.reply("503 5.5.1 already authenticated")
	}
	b, err := base64.StdEncoding.DecodeString(resp)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 || parts[1] == "" {
		return s.reply("501 5.5.2 malformed AUTH PLAIN response")
	}
	s.authUser = parts[1]
	return s.reply("235 2.7.0 authenticated")
}

// has reports whether the host has the SMTP fault f now.
func (s *smtpSession) has(f SMTPFault) bool {
	for _, g := range s.w.faultsFor(s.host.name, layerSMTP) {
		if g == f {
			return true
		}
	}
	return false
}

func (s *smtpSession) readLine() (string, error) {
	s.conn.SetDeadline(time.Now().Add(smtpIdle))
	line, err := s.r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (s *smtpSession) reply(format string, args ...any) bool {
	_, err := fmt.Fprintf(s.conn, format+"\r\n", args...)
	return err == nil
}

// path parses "FROM:<addr> params" (prefix "FROM:") into addr.
func path(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	addr, _, ok := strings.Cut(rest[1:], ">")
	return addr, ok
}

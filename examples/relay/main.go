// Command relay is a minimal mail relay that obeys MTA-STS (RFC 8461): it
// accepts mail over SMTP on a loopback port and delivers each message to
// the MX hosts of the recipients' domain, in preference order, over
// STARTTLS, asking resolver.Check about every MX host and handshaking with
// the verdict's tls.Config, and records the TLS-RPT (RFC 8460) result of
// every session.
//
//	relay [-listen ADDR] [-dns ADDR] [-ca FILE] [-https-port N]
//	      [-smtp-addr HOST=[IP]:PORT]... [-timeout D] [-hostname NAME] [-once] [-dane]
//	      [-tlsrpt DIR [-report-org NAME] [-report-contact ADDR]
//	       [-dkim-key FILE [-dkim-selector S] [-dkim-domain D] | -report-unsigned]
//	       [-submit HOST:PORT [-submit-tls MODE] [-submit-servername NAME] [-submit-user U]]
//	       [-report-redis HOST:PORT] [-report-node ID]
//	       [-report-max-delay D] [-report-clock-offset D]]
//
// Delivery is synchronous: the reply to DATA is the outcome. A message goes
// to the first MX host that takes it; a host whose verdict is refuse, or
// whose certificate fails an enforce policy in the handshake, is skipped.
// When no MX host is left the reply is a temporary failure (451), never a
// bounce (RFC 8461 section 5), as it is when the domain's policy cannot be
// known (a failed _mta-sts lookup). A permanent error from the MX host
// (5xx) is passed back. One transaction carries recipients of one domain:
// other domains are deferred with 451, for the client to send separately.
//
// Each session with an MX host is logged on stderr (log/slog) with its
// RFC 8460 result type, the figure a sender adds to the daily TLS-RPT
// report of the domain: "success", or a failure such as
// certificate-expired, starttls-not-supported or validation-failure.
//
// With -tlsrpt, a tlsrpt.Reporter counts these results per policy domain
// and UTC day, journaled in DIR as they come (a crash, even kill -9, loses
// none), and sends each day's reports itself: after 00:00 UTC and a random
// delay (-report-max-delay), by HTTPS POST or by mail through the
// submission server -submit, DKIM-signed with -dkim-key (RSA or Ed25519,
// PKCS#8 PEM; publish its key record with "s=email:tlsrpt", not
// "s=tlsrpt" alone, which some verifiers refuse), retrying for 24 hours.
// Only domains that publish an "_smtp._tls" record are counted. Sessions
// that carry mail from -report-contact are the relay's own report mail and
// are not counted. With -report-redis, relays on several hosts share their
// counts through Redis and each report is sent once, by one of them. Each
// MX host tried is one session:
//
//   - under a testing or enforce policy (policy-type sts): success for a
//     TLS session that passed the policy; validation-failure for an MX host
//     the policy does not list (refused under enforce, no connection
//     made); starttls-not-supported; or the result of the handshake's
//     validation, reported for the session by Decision.TLSConfigReport
//     (certificate-expired, certificate-host-mismatch,
//     certificate-not-trusted, validation-failure);
//   - when the policy could not be fetched: the verdict's sts-* failure;
//   - without a policy, and under mode none, which RFC 8461 section 5 says
//     to treat as no policy: no-policy-found, a success when TLS was
//     negotiated, starttls-not-supported or the handshake's failure
//     otherwise. A domain in mode none is never counted under its sts
//     policy.
//
// With -dane, which says that the -dns server validates DNSSEC and can be
// trusted to, the resolver looks up the TLSA records of each MX host
// (RFC 7672): an MX host with usable DNSSEC-validated TLSA records is
// authenticated by them, whatever the MTA-STS mode (RFC 8461 section 2),
// and its sessions count under policy-type tlsa for the TLSA base domain
// (the MX host name), with its TLSA records as policy-string, recorded by
// tlsrpt.SessionDANE, and reported to the "_smtp._tls" record of the MX
// host name, not of the recipient domain (RFC 8460 section 1.1). A bogus
// TLSA lookup counts as dnssec-invalid.
//
// A session that fails on the network (no connection, a reset, a timeout)
// before its TLS negotiation is over is not counted (RFC 8460 section
// 4.3.4), unless the verdict itself is a failure.
//
// Flags:
//
//	-listen ADDR     address to accept mail on; a loopback IP and a port
//	                 (default 127.0.0.1:2525): a relay that asks for no
//	                 authentication must not face the network
//	-dns ADDR        DNS servers, host[:port], comma-separated (default:
//	                 /etc/resolv.conf), for the policies and the MX records
//	-ca FILE         PEM roots to trust instead of the system's
//	-https-port N    port to fetch policies from instead of 443
//	-smtp-addr HOST=[IP]:PORT
//	                 where to reach MX host HOST instead of its addresses on
//	                 port 25 (repeatable; without IP, HOST is resolved and
//	                 PORT dialled; HOST "*" for every host), as in check
//	-timeout D       deadline of one message's delivery (default 2m)
//	-hostname NAME   the name the relay gives in its greeting and EHLO
//	-once            exit after the first message: status 0 if it was
//	                 delivered, 75 after a temporary failure, 69 after a
//	                 permanent one
//	-tlsrpt DIR      record the TLS-RPT result of every session, and send
//	                 the daily reports, keeping the state in DIR
//	-report-org, -report-contact, -dkim-key, -dkim-selector, -dkim-domain,
//	-report-unsigned, -submit, -submit-tls, -submit-servername,
//	-submit-user, -report-redis, -report-node, -report-max-delay,
//	-report-clock-offset
//	                 configure the reports (see -h)
//
// It logs "listening" with the address once it accepts mail.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtasts-go/mtasts/examples/internal/cli"
	"github.com/mtasts-go/mtasts/examples/internal/smtpc"
	"github.com/mtasts-go/mtasts/resolver"
)

// Exit statuses (sysexits.h); a usage error is cli.ExitUsage (64).
const (
	exitOK          = 0
	exitUnavailable = 69
	exitTempFail    = 75
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cmd := cli.NewCommand("relay", "usage: relay [-listen ADDR] [-dns ADDR] [-ca FILE] [-https-port N] [-smtp-addr HOST=[IP]:PORT]... [-timeout D] [-hostname NAME] [-once] [-dane] [-tlsrpt DIR [report flags]]", stderr)
	fs := cmd.Flags
	listen := fs.String("listen", "127.0.0.1:2525", "loopback `ADDR` to accept mail on")
	var world cli.World
	world.Register(fs)
	timeout := fs.Duration("timeout", 2*time.Minute, "deadline of one message's delivery")
	hostname := fs.String("hostname", "relay.localhost", "name to give in the greeting and in EHLO")
	once := fs.Bool("once", false, "exit after the first message (0 delivered, 75 temporary failure, 69 permanent)")
	useDANE := fs.Bool("dane", false, "the -dns server validates DNSSEC: apply DANE (TLSA records) to MX hosts")
	var rf reportFlags
	rf.register(fs)
	smtpAddrs := smtpc.Overrides{}
	smtpAddrs.Register(fs)
	if status, ok := cmd.Parse(args); !ok {
		return status
	}
	if fs.NArg() != 0 || *timeout <= 0 || world.Check() != nil {
		return cmd.Usage()
	}
	if ap, err := netip.ParseAddrPort(*listen); err != nil || !ap.Addr().IsLoopback() {
		return cmd.UsageError(fmt.Errorf("-listen %s: want a loopback IP address and a port", *listen))
	}
	dc, roots, err := world.Open()
	if err != nil {
		return cmd.UsageError(err)
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	rl := &relay{log: logger, dns: dc, dial: &smtpc.Dialer{DNS: dc, Overrides: smtpAddrs},
		roots: roots, hostname: *hostname, timeout: *timeout}
	if rf.dir != "" {
		// The Reporter restores its state at once: a directory that cannot
		// be read or written is a usage error now rather than results lost
		// later.
		rep, err := rf.newReporter(logger, *hostname, dc, roots, world.HTTPSPort)
		if err != nil {
			return cmd.UsageError(fmt.Errorf("-tlsrpt %s: %w", rf.dir, err))
		}
		defer rep.Close()
		rl.rep = rep
	}
	rl.res, err = resolver.New(resolver.Options{DNS: dc.Servers(), RootCAs: roots, HTTPSPort: world.HTTPSPort, DNSSEC: *useDANE})
	if err != nil {
		return cmd.UsageError(err)
	}
	defer rl.res.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		cmd.Error(err)
		return exitUnavailable
	}
	done := make(chan int, 1) // the status of the first message, with -once
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{relay: rl, once: *once, done: done}, nil
	}))
	s.Domain = *hostname
	s.MaxMessageBytes = maxMessage
	s.MaxRecipients = maxRecipients
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	s.ErrorLog = log.New(stderr, "relay: smtp: ", 0)

	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	status := exitOK
	select {
	case status = <-done:
	case <-sig:
	case err := <-served:
		cmd.Error(err)
		return exitUnavailable
	}
	// Let the client read the reply and say QUIT, then close what is left.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		s.Close()
	}
	<-served
	return status
}

// Limits of the SMTP server.
const (
	maxMessage    = 10 << 20
	maxRecipients = 100
)

// session is one SMTP session of a client of the relay.
type session struct {
	relay *relay
	once  bool
	done  chan<- int

	from   string
	domain string // of the recipients
	to     []string
}

func (s *session) Reset() { s.from, s.domain, s.to = "", "", nil }

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.Reset()
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	domain, err := domainOf(to)
	if err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: err.Error()}
	}
	if s.domain != "" && domain != s.domain {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
			Message: "one recipient domain per transaction: send this one separately"}
	}
	s.domain = domain
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.relay.timeout)
	defer cancel()
	serr := s.relay.deliver(ctx, s.domain, s.from, s.to, msg)
	if s.once {
		status := exitOK
		switch {
		case serr == nil:
		case serr.Code >= 500:
			status = exitUnavailable
		default:
			status = exitTempFail
		}
		select {
		case s.done <- status:
		default:
		}
	}
	if serr == nil {
		return nil
	}
	return serr
}

// domainOf returns the normalised domain of a recipient address.
func domainOf(addr string) (string, error) {
	i := len(addr) - 1
	for i >= 0 && addr[i] != '@' {
		i--
	}
	if i <= 0 {
		return "", errors.New("recipient address without a domain")
	}
	return resolver.Normalize(addr[i+1:])
}

// Command demo shows MTA-STS (RFC 8461) at work without touching the
// network: it starts a loopback world (a DNS server, an HTTPS server for
// policies and one SMTP server per MX host, all on 127.0.0.1), publishes a
// handful of domains in it, and walks a resolver through them as a sending
// MTA would, one MX host at a time:
//
//	go run ./examples/demo
//	go run ./examples/demo -serve
//
// For each MX host it prints the policy that applies, the verdict of
// resolver.Check, what happened in the STARTTLS handshake made with the
// verdict's TLS configuration, and the TLS-RPT (RFC 8460) result a sender
// records for the session. It ends with what the resolver has cached.
//
// The domains cover the cases a sender meets: a policy in enforce mode (with
// a good MX, an MX whose certificate has expired and an MX the policy does
// not list), testing mode, mode none, no policy at all, a policy host whose
// HTTPS certificate is not trusted, and a domain that publishes a new policy
// id while the old policy is cached.
//
// With -serve, the demo publishes the same world (and two more domains, one
// with an invalid policy and one whose only MX host has an expired
// certificate), prints the flags that point the other example commands at
// it (-dns, -ca with the CA written to a temporary file, -https-port, and
// -smtp-addr for each MX host), and keeps it up until interrupted (SIGINT
// or SIGTERM), then exits 0.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/cli"
	"github.com/mtasts-go/mtasts/examples/internal/smtpc"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

func main() {
	cmd := cli.NewCommand("demo", "usage: demo [-serve]", os.Stderr)
	serveFlag := cmd.Flags.Bool("serve", false, "keep the world up until interrupted, and print the flags that point lookup, check, relay and the Postfix server at it")
	if status, ok := cmd.Parse(os.Args[1:]); !ok {
		os.Exit(status)
	}
	if cmd.Flags.NArg() > 0 {
		os.Exit(cmd.Usage())
	}
	var err error
	if *serveFlag {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = serve(ctx, os.Stdout)
		stop()
	} else {
		err = run(os.Stdout)
	}
	if err != nil {
		cmd.Error(err)
		os.Exit(1)
	}
}

// step is one delivery attempt of the walk: domain's mail to MX host mx.
type step struct {
	domain, mx string
	before     func(w *testserver.World) error // changes the world first
	note       string                          // printed before the step, if any
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w, err := testserver.New(testserver.Options{})
	if err != nil {
		return err
	}
	defer w.Close()
	if err := publish(w); err != nil {
		return err
	}

	// The hook receives the outcome of every certificate check made by a
	// verdict's TLS configuration: under testing it is the only place a
	// failure shows, since the handshake goes on.
	var mu sync.Mutex
	var reported error
	r, err := resolver.New(resolver.Options{
		DNS:          []string{w.DNSAddr()},
		DNSTimeout:   time.Second,
		RootCAs:      w.RootCAs(),
		HTTPSPort:    w.HTTPSPort(),
		FetchTimeout: 3 * time.Second,
		Events: resolver.Events{TLSResult: func(_, _, _ string, err error) {
			mu.Lock()
			reported = err
			mu.Unlock()
		}},
	})
	if err != nil {
		return err
	}
	defer r.Close()

	fmt.Fprintf(out, "A loopback mail world: DNS on %s, policies on HTTPS port %d, an SMTP server per MX host.\n",
		w.DNSAddr(), w.HTTPSPort())
	fmt.Fprintln(out, "A sending MTA asks resolver.Check about each MX host, then says STARTTLS with the verdict's tls.Config.")
	fmt.Fprintln(out)

	var walk table
	walk.row("DOMAIN", "MX HOST", "POLICY", "VERDICT", "STARTTLS", "TLS-RPT", "WHY")
	for _, s := range steps() {
		if s.before != nil {
			if err := s.before(w); err != nil {
				return err
			}
		}
		if s.note != "" {
			walk.note("-- " + s.note)
		}
		d, err := r.Check(ctx, s.domain, s.mx)
		if err != nil {
			return err
		}
		tlsNote, result, why := "not dialled", d.Result.String(), d.Reason
		if d.Action == resolver.Deliver || d.Action == resolver.DeliverWithoutSTS {
			mu.Lock()
			reported = nil
			mu.Unlock()
			herr := handshake(ctx, w, &d)
			mu.Lock()
			rep := reported
			mu.Unlock()
			tlsNote, result, why = describe(&d, herr, rep)
		}
		walk.row(d.Domain, d.MX, policyOf(&d), verdict(&d, tlsNote), tlsNote, orDash(result), why)
	}
	walk.print(out)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "deliver: send over STARTTLS; the policy's check runs in the handshake and, under enforce, a bad certificate stops it.")
	fmt.Fprintln(out, "refuse: not this MX host; try the next, and when none is left retry later (never bounce).")
	fmt.Fprintln(out, "deliver-without-sts: no policy applies; TLS is opportunistic. TLS-RPT: the result a sender counts in its daily report.")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "What the resolver holds now (resolver.Lookup of each domain):")
	fmt.Fprintln(out)
	var cache table
	cache.row("DOMAIN", "ID", "MODE", "MX PATTERNS", "EXPIRES IN", "STATE")
	for _, domain := range domains {
		e, err := r.Lookup(ctx, domain)
		switch {
		case e != nil && e.Policy != nil:
			cache.row(domain, e.ID, e.Policy.Mode.String(), orDash(strings.Join(e.Policy.MX, " ")),
				days(time.Until(e.Expires)), "policy in effect ("+e.Source.String()+")")
		case e != nil:
			var fe *resolver.FetchError
			state := "no policy in effect"
			if errors.As(err, &fe) {
				state += ": " + fe.Result().String()
			}
			cache.row(domain, e.ID, "-", "-", "-", state)
		case err != nil:
			cache.row(domain, "-", "-", "-", "-", err.Error())
		default:
			cache.row(domain, "-", "-", "-", "-", "no _mta-sts record")
		}
	}
	cache.print(out)
	return nil
}

// table prints rows in aligned columns, with notes between them.
type table struct {
	rows [][]string // a note is a row of one cell
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }
func (t *table) note(s string)       { t.rows = append(t.rows, []string{s}) }

func (t *table) print(out io.Writer) {
	var width []int
	for _, r := range t.rows {
		if len(r) == 1 {
			continue
		}
		for i, c := range r {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len(c))
		}
	}
	for _, r := range t.rows {
		if len(r) == 1 {
			fmt.Fprintf(out, "  %s\n", r[0])
			continue
		}
		var b strings.Builder
		for i, c := range r {
			if i < len(r)-1 {
				fmt.Fprintf(&b, "%-*s  ", width[i], c)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(out, b.String())
	}
}

// days renders a duration in days and hours.
func days(d time.Duration) string {
	d = d.Round(time.Hour)
	if d < 24*time.Hour {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	if h := int(d.Hours()) % 24; h != 0 {
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, h)
	}
	return fmt.Sprintf("%dd", int(d.Hours())/24)
}

// domains are the domains of the world, in the order of the walk.
var domains = []string{"enforce.example", "testing.example", "none.example", "plain.example", "broken.example", "changed.example"}

// publish sets up the world.
func publish(w *testserver.World) error {
	add := func(domain string, p testserver.Policy) error {
		_, err := w.AddDomain(domain, p)
		return err
	}
	errs := []error{
		add("enforce.example", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.example", "mx2.enforce.example"}, MaxAge: 604800, ID: "20250101"}),
		add("testing.example", testserver.Policy{Mode: "testing", MX: []string{"mx.testing.example"}, MaxAge: 86400, ID: "t1"}),
		add("none.example", testserver.Policy{Mode: "none", MX: []string{"mx.none.example"}, MaxAge: 86400, ID: "n1"}),
		add("broken.example", testserver.Policy{Mode: "enforce", MX: []string{"mx.broken.example"}, MaxAge: 86400, ID: "b1"}),
		add("changed.example", testserver.Policy{Mode: "enforce", MX: []string{"mx.old.changed.example"}, MaxAge: 86400, ID: "v1"}),
	}
	// mx2 of enforce.example shows an expired certificate; the testing
	// domain's MX a certificate for another name; the policy host of
	// broken.example a certificate from an authority nobody trusts.
	w.Fault("mx2.enforce.example", testserver.CertExpired)
	w.Fault("mx.testing.example", testserver.CertWrongHost)
	w.Fault("mta-sts.broken.example", testserver.CertUntrusted)
	// plain.example has MX records and no MTA-STS at all; mx.attacker.example
	// is an MX host that no policy lists (as if DNS had been spoofed).
	for _, h := range []string{"mx.plain.example", "mx.attacker.example"} {
		_, err := w.AddSMTPHost(h)
		errs = append(errs, err)
		w.SetAddrs(h, w.IP())
	}
	w.SetMX("plain.example", "mx.plain.example")
	return errors.Join(errs...)
}

func steps() []step {
	return []step{
		{domain: "enforce.example", mx: "mx1.enforce.example"},
		{domain: "enforce.example", mx: "mx2.enforce.example"},
		{domain: "enforce.example", mx: "mx.attacker.example"},
		{domain: "testing.example", mx: "mx.testing.example"},
		{domain: "testing.example", mx: "mx.attacker.example"},
		{domain: "none.example", mx: "mx.none.example"},
		{domain: "plain.example", mx: "mx.plain.example"},
		{domain: "broken.example", mx: "mx.broken.example"},
		{domain: "changed.example", mx: "mx.old.changed.example"},
		{domain: "changed.example", mx: "mx.new.changed.example",
			note: "changed.example moves its mail to mx.new.changed.example and publishes policy id v2",
			before: func(w *testserver.World) error {
				if _, err := w.AddSMTPHost("mx.new.changed.example"); err != nil {
					return err
				}
				w.SetAddrs("mx.new.changed.example", w.IP())
				w.SetMX("changed.example", "mx.new.changed.example")
				w.SetPolicy("changed.example", testserver.Policy{Mode: "enforce", MX: []string{"mx.new.changed.example"}, MaxAge: 86400, ID: "v2"})
				return nil
			}},
	}
}

// handshake connects to the MX host's SMTP server and says STARTTLS with
// the verdict's configuration, then QUIT: the demo sends no mail.
func handshake(ctx context.Context, w *testserver.World, d *resolver.Decision) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := w.DialContext(ctx, "tcp", d.MX+":25")
	if err != nil {
		return err
	}
	c, err := smtpc.NewClient(ctx, conn, "demo.localhost")
	if err != nil {
		return err
	}
	defer c.Close()
	// Without a policy, TLS is opportunistic: any certificate will do,
	// as most MTAs do (RFC 7435). Under a policy, the verdict's
	// configuration replaces this with the policy's validation.
	base := &tls.Config{InsecureSkipVerify: true}
	if err := c.StartTLS(ctx, d.TLSConfig(base)); err != nil {
		return err
	}
	return c.Quit()
}

// describe says what happened to a session the verdict allowed: the
// STARTTLS outcome, the TLS-RPT result and why.
func describe(d *resolver.Decision, herr, reported error) (tlsNote, result, why string) {
	result, why = d.Result.String(), d.Reason
	switch {
	case herr != nil && d.Mode.String() == "enforce":
		return "failed", validate.ResultOf(herr).String(), reasonOf(herr) + ": try the next MX"
	case herr != nil:
		return "failed", result, herr.Error()
	case d.Action == resolver.DeliverWithoutSTS:
		return "opportunistic", result, why
	case reported != nil:
		return "accepted", validate.ResultOf(reported).String(), reasonOf(reported) + ": delivered anyway, reported"
	case result != "":
		return "verified", result, why + ": delivered anyway, reported"
	}
	return "verified", "success", why + ", certificate valid"
}

// verdict is the action, amended when the handshake stopped delivery.
func verdict(d *resolver.Decision, tlsNote string) string {
	if tlsNote == "failed" && d.Action == resolver.Deliver {
		return "refuse"
	}
	return d.Action.String()
}

func policyOf(d *resolver.Decision) string {
	switch {
	case d.Policy != nil:
		return fmt.Sprintf("%s %s (%s)", d.Mode, d.PolicyID, d.Source)
	case d.Result != "":
		return "fetch failed"
	}
	return "none found"
}

func reasonOf(err error) string {
	var ve *validate.Error
	if errors.As(err, &ve) {
		return ve.Reason()
	}
	return err.Error()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// publishServe publishes the domains -serve adds to those of the walk: one
// that does everything right, one whose policy has common mistakes, and
// one under enforce whose only MX host has an expired certificate.
func publishServe(w *testserver.World) error {
	var errs []error
	_, err := w.AddDomain("good.example", testserver.Policy{Mode: "enforce", MX: []string{"mx1.good.example", "mx2.good.example"}, MaxAge: 604800, ID: "20260101"})
	errs = append(errs, err)
	w.SetTLSRPT("good.example", "v=TLSRPTv1; rua=mailto:tlsrpt@good.example")
	_, err = w.AddDomain("typo.example", testserver.Policy{Mode: "enforce", MX: []string{"mx.typo.example"}, MaxAge: 604800, ID: "y1"})
	errs = append(errs, err)
	w.SetPolicyBody("typo.example", "version: STSv1\nmode: enforced\nmx: mx.typo.example.\nmax_age: 604800\n\n")
	_, err = w.AddDomain("expired.example", testserver.Policy{Mode: "enforce", MX: []string{"mx.expired.example"}, MaxAge: 604800, ID: "e1"})
	errs = append(errs, err)
	w.Fault("mx.expired.example", testserver.CertExpired)
	w.SetTLSRPT("enforce.example", "v=TLSRPTv1; rua=mailto:tlsrpt@enforce.example")
	// The walk's last step, done now: changed.example's new MX host.
	_, err = w.AddSMTPHost("mx.new.changed.example")
	errs = append(errs, err)
	w.SetAddrs("mx.new.changed.example", w.IP())
	return errors.Join(errs...)
}

// serve keeps a world up until ctx is done, after printing the flags that
// point each example command at it.
func serve(ctx context.Context, out io.Writer) error {
	w, err := testserver.New(testserver.Options{})
	if err != nil {
		return err
	}
	defer w.Close()
	if err := errors.Join(publish(w), publishServe(w)); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mtasts-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ca := filepath.Join(dir, "ca.pem")
	if err := w.WriteCAFile(ca); err != nil {
		return err
	}

	world := fmt.Sprintf("-dns %s -ca %s -https-port %d", w.DNSAddr(), ca, w.HTTPSPort())
	var smtp []string
	for _, h := range mxHosts(w) {
		smtp = append(smtp, fmt.Sprintf("-smtp-addr %s=%s", h, w.SMTPAddr(h)))
	}
	smtpFlags := strings.Join(smtp, " ")

	fmt.Fprintf(out, "A loopback mail world is up: DNS on %s, policies on HTTPS port %d, an SMTP server per MX host.\n",
		w.DNSAddr(), w.HTTPSPort())
	fmt.Fprintf(out, "Its CA certificate is in %s.\n\n", ca)
	fmt.Fprintln(out, "Domains: good.example (all right), enforce.example, testing.example, none.example (mode none),")
	fmt.Fprintln(out, "plain.example (no policy), broken.example (untrusted policy host), changed.example,")
	fmt.Fprintln(out, "typo.example (invalid policy), expired.example (its only MX host has an expired certificate).")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "The flags of each command, to paste after its name:")
	fmt.Fprintln(out)
	fmt.Fprintf(out, "lookup:  %s\n", world)
	fmt.Fprintf(out, "check:   %s %s\n", world, smtpFlags)
	fmt.Fprintf(out, "relay:   %s %s\n", world, smtpFlags)
	fmt.Fprintf(out, "postfix: %s\n", world)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Or paste these two lines into a shell:")
	fmt.Fprintln(out)
	fmt.Fprintf(out, "WORLD='%s'\n", world)
	fmt.Fprintf(out, "SMTP='%s'\n", smtpFlags)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "and try:")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "  go run ./examples/lookup $WORLD enforce.example mx1.enforce.example mx.attacker.example")
	fmt.Fprintln(out, "  go run ./examples/check $WORLD $SMTP good.example")
	fmt.Fprintln(out, "  go run ./examples/relay $WORLD $SMTP -listen 127.0.0.1:2525")
	fmt.Fprintln(out, "  go run ./cmd/mtasts-postfix $WORLD -listen 127.0.0.1:8461")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

// mxHosts returns the MX hosts of the world that have an SMTP server, sorted.
func mxHosts(w *testserver.World) []string {
	var hosts []string
	for _, h := range []string{
		"mx1.good.example", "mx2.good.example", "mx1.enforce.example", "mx2.enforce.example", "mx.testing.example", "mx.none.example", "mx.plain.example",
		"mx.attacker.example", "mx.broken.example", "mx.old.changed.example", "mx.new.changed.example",
		"mx.typo.example", "mx.expired.example",
	} {
		if w.SMTPAddr(h) != "" {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	return hosts
}

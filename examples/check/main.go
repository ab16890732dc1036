// Command check is a domain owner's MTA-STS checker: it looks at what a
// domain publishes the way a sending MTA will, and says what is wrong.
//
//	check [-dns ADDR] [-ca FILE] [-https-port N] [-smtp-addr HOST=[IP]:PORT]... [-timeout D] [-json] DOMAIN
//
// It checks, in order:
//
//   - record: the _mta-sts TXT record (RFC 8461 section 3.1): exactly one
//     STSv1 record, well-formed, with its id;
//   - policy-host: the HTTPS certificate of mta-sts.<domain>: trusted, valid
//     for that name, not about to expire;
//   - policy: the policy file, fetched as senders fetch it (status, media
//     type, size, syntax), with the parser's warnings and advice on mode and
//     max_age;
//   - mx: every MX host, in preference order: that a pattern of the policy
//     matches it, and, in a real SMTP dialogue, that it offers STARTTLS with
//     a certificate valid for its name (RFC 8461 section 4); also policy
//     patterns that match no MX host;
//   - tlsrpt: the _smtp._tls TXT record (RFC 8460 section 3), parsed as
//     senders parse it (tlsrpt.ParseTXT): exactly one v=TLSRPTv1 record,
//     rua= with mailto: or https: URIs, and what senders ignore in it.
//
// Each finding has a severity: error (senders will fail or refuse, or the
// domain breaks a MUST), warning (it works, but probably not as meant),
// info (what was found). Certificate problems of MX hosts are errors under
// a testing or enforce policy and warnings otherwise.
//
// Flags:
//
//	-dns ADDR        DNS servers to ask, host[:port], comma-separated
//	                 (default: /etc/resolv.conf); the policy host's and the MX
//	                 hosts' addresses come from them too
//	-ca FILE         PEM roots to trust instead of the system's, for the
//	                 policy host and the MX hosts
//	-https-port N    port to fetch the policy from instead of 443
//	-smtp-addr HOST=[IP]:PORT
//	                 where to reach the MX host HOST instead of its addresses
//	                 on port 25; repeat for each host. Without IP, HOST is
//	                 resolved through DNS and PORT is dialled; HOST "*" stands
//	                 for every MX host. For test worlds, which run one SMTP
//	                 listener per host on loopback ports.
//	-timeout D       deadline of the whole check (default 30s)
//	-json            print one JSON object instead of text
//
// With -json the output is
//
//	{"domain": "...",
//	 "findings": [{"check": "mx", "severity": "error", "subject": "mx1.example.com",
//	               "message": "...", "result": "certificate-expired"}],
//	 "errors": 1, "warnings": 0}
//
// where "result", the RFC 8460 result type a sender would report, is absent
// when it does not apply.
//
// Exit status: 0 no errors (warnings allowed); 1 at least one error; 64
// usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/cli"
	"github.com/mtasts-go/mtasts/examples/internal/smtpc"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

// Exit statuses.
const (
	exitOK     = 0
	exitErrors = 1
	exitUsage  = 64
)

// Severities.
const (
	sevError   = "error"
	sevWarning = "warning"
	sevInfo    = "info"
)

// finding is one thing the checker has to say.
type finding struct {
	Check    string              `json:"check"` // record, policy-host, policy, mx, tlsrpt
	Severity string              `json:"severity"`
	Subject  string              `json:"subject"` // the name concerned
	Message  string              `json:"message"`
	Result   validate.ResultType `json:"result,omitempty"`
}

type report struct {
	Domain   string    `json:"domain"`
	Findings []finding `json:"findings"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var world cli.World
	world.Register(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for the whole check")
	asJSON := fs.Bool("json", false, "print one JSON object")
	smtpAddrs := smtpc.Overrides{}
	fs.Var(smtpAddrs, "smtp-addr", "`HOST=[IP]:PORT` to dial for MX host HOST instead of port 25 (repeatable; HOST * for all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: check [-dns ADDR] [-ca FILE] [-https-port N] [-smtp-addr HOST=[IP]:PORT]... [-timeout D] [-json] DOMAIN")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 || *timeout <= 0 || world.Check() != nil {
		fs.Usage()
		return exitUsage
	}
	usage := func(err error) int {
		fmt.Fprintln(stderr, "check:", err)
		return exitUsage
	}
	domain, err := resolver.Normalize(fs.Arg(0))
	if err != nil {
		return usage(err)
	}
	dc, err := world.DNSClient()
	if err != nil {
		return usage(err)
	}
	roots, err := world.Roots()
	if err != nil {
		return usage(err)
	}
	r, err := resolver.New(resolver.Options{DNS: dc.Servers(), RootCAs: roots, HTTPSPort: world.HTTPSPort, FetchTimeout: *timeout})
	if err != nil {
		return usage(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	c := &checker{domain: domain, dns: dc, res: r, roots: roots, httpsPort: world.HTTPSPort,
		dial: &smtpc.Dialer{DNS: dc, Overrides: smtpAddrs}, now: time.Now()}
	c.run(ctx)
	rep := &report{Domain: domain, Findings: c.findings}
	if rep.Findings == nil {
		rep.Findings = []finding{}
	}
	for _, f := range rep.Findings {
		switch f.Severity {
		case sevError:
			rep.Errors++
		case sevWarning:
			rep.Warnings++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "check:", err)
		}
	} else {
		printHuman(stdout, rep)
	}
	if rep.Errors > 0 {
		return exitErrors
	}
	return exitOK
}

func printHuman(w io.Writer, rep *report) {
	fmt.Fprintf(w, "MTA-STS check of %s\n\n", rep.Domain)
	width := 0
	for _, f := range rep.Findings {
		width = max(width, len(f.Check))
	}
	for _, f := range rep.Findings {
		msg := f.Message
		if f.Subject != "" {
			msg = f.Subject + ": " + msg
		}
		if f.Result != "" {
			msg += " [" + string(f.Result) + "]"
		}
		fmt.Fprintf(w, "%-7s  %-*s  %s\n", f.Severity, width, f.Check, msg)
	}
	fmt.Fprintf(w, "\n%s, %s\n", plural(rep.Errors, "error"), plural(rep.Warnings, "warning"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// days renders a duration in whole days, or hours under a day.
func days(d time.Duration) string {
	switch {
	case d < 0:
		return "expired"
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// join joins names for a message.
func join(names []string) string { return strings.Join(names, ", ") }

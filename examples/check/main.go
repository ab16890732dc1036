// Command check is a domain owner's MTA-STS checker: it looks at what a
// domain publishes the way a sending MTA will, and says what is wrong and,
// for the common mistakes in policy files, the exact fix.
//
//	check [-dns ADDR] [-ca FILE] [-https-port N] [-smtp-addr HOST=[IP]:PORT]... [-no-smtp] [-dane] [-timeout D] [-json] DOMAIN
//
// It checks, in order:
//
//   - dns: that the DNS answers, and that the domain exists (NXDOMAIN
//     says it does not, and nothing else is checked);
//   - record: the _mta-sts TXT record (RFC 8461 section 3.1): exactly one
//     STSv1 record, well-formed, with its id;
//   - policy-host: the HTTPS certificate of mta-sts.<domain>: trusted, valid
//     for that name, not about to expire;
//   - policy: the policy file, fetched as senders fetch it (status, media
//     type, size, syntax), with the parser's warnings and advice on mode and
//     max_age. When the parser rejects the file, check names the mistake
//     and its fix (findings whose code begins with "fix-"): blank lines,
//     above all at the end of the file; a lone CR at the end of the file or
//     as line ends; "#" comments; YAML lists; indented lines; a byte order
//     mark; "mode: enforced" and other modes that are not one; max_age with
//     a unit; an mx with a trailing dot or with several hosts;
//   - mx: every MX host, in preference order: that a pattern of the policy
//     matches it, and, in a real SMTP dialogue on port 25 (unless
//     -no-smtp), that it offers STARTTLS with a certificate valid for its
//     name (RFC 8461 section 4); also policy patterns that match no MX
//     host, and a summary when every MX host fails an enforce policy
//     (senders will defer all the domain's mail); an MX target that cannot
//     be a host name (a label holding a dot, mx\.example.com) is reported
//     and the other MX hosts are checked;
//   - dane (only with -dane; after each MX host's mx findings): what DANE
//     for SMTP (RFC 7672) says of each MX host, as senders that validate
//     DNSSEC see it: whether the MX records are signed (if not, DANE
//     applies to no host), the host's usable TLSA records, or why none is
//     usable, or that its DNSSEC lookups fail (senders that validate skip
//     the host); and whether the certificate
//     the host presented over STARTTLS matches a usable record (DANE-EE
//     the key or certificate; DANE-TA a chain to the anchor and a leaf
//     issued for the host). Where DANE and the MTA-STS policy disagree
//     about a host, a finding says so: for senders that do both, DANE wins
//     (RFC 8461 section 2); and a summary when every MX host fails DANE
//     (senders that validate DNSSEC will defer all the domain's mail);
//   - tlsrpt: the _smtp._tls TXT record (RFC 8460 section 3), parsed as
//     senders parse it (tlsrpt.ParseTXT): exactly one v=TLSRPTv1 record,
//     rua= with mailto: or https: URIs, and what senders ignore in it.
//
// Each finding has a severity: error (senders will fail or refuse, or the
// domain breaks a MUST), warning (it works, but probably not as meant),
// info (what was found, and the fixes of an invalid policy). Certificate
// problems of MX hosts are errors under a testing or enforce policy and
// warnings otherwise.
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
//	-no-smtp         skip the SMTP dialogues (STARTTLS and the MX hosts'
//	                 certificates), for networks that block port 25
//	-dane            check DANE too (the dane findings); the -dns servers must
//	                 validate DNSSEC (a validating resolver such as Unbound):
//	                 their AD bit is trusted, no signature is checked. Off by
//	                 default, and then no DNSSEC query is sent
//	-timeout D       deadline of the whole check (default 30s)
//	-json            print one JSON object instead of text
//
// With -json the output is
//
//	{"domain": "...",
//	 "findings": [{"code": "mx-cert-invalid", "check": "mx", "severity": "error",
//	               "subject": "mx1.example.com", "message": "...",
//	               "result": "certificate-expired", "expires": "2026-01-02T03:04:05Z"}],
//	 "errors": 1, "warnings": 0}
//
// where "code" names the kind of finding, stably (a script may rely on it;
// the message is for people and may change); "subject" is the name
// concerned; "result", the RFC 8460 result type a sender would report,
// is absent when it does not apply; "expires" (RFC 3339, UTC) is the end of
// validity of the certificate a finding is about, or, for "policy-found",
// when the copy of the policy a sender fetches now expires; "line" is the
// line of the policy file a "fix-" finding is about.
//
// The codes: dns-unreachable, domain-not-found, dns-servfail;
// record-found, record-lookup-failed, record-missing, record-multiple,
// record-invalid, record-not-sts, record-unknown-field;
// policy-host-lookup-failed, policy-host-no-address,
// policy-host-unreachable, policy-host-cert-invalid, cert-valid,
// cert-expires-soon; policy-found, policy-fetch-failed, policy-invalid,
// policy-lookup-failed, policy-missing, policy-warning,
// policy-mode-testing, policy-mode-none, policy-max-age-short, fix-bom,
// fix-stray-cr, fix-cr-line-ends, fix-trailing-blank-lines,
// fix-blank-line, fix-comment, fix-yaml-list, fix-indented, fix-mode,
// fix-max-age, fix-mx-list, fix-mx-trailing-dot, fix-syntax;
// mx-lookup-failed, mx-bad-name, mx-null, mx-implicit,
// mx-null-among-others, mx-smtp-skipped, mx-mismatch, mx-unreachable, mx-smtp-failed,
// mx-no-starttls, mx-tls-failed, mx-tls-old, mx-cert-invalid, mx-ok,
// mx-pattern-unused, mx-all-fail, mx-all-fail-testing; tlsrpt-found,
// tlsrpt-lookup-failed, tlsrpt-missing, tlsrpt-multiple, tlsrpt-not-v1,
// tlsrpt-invalid, tlsrpt-no-rua, tlsrpt-bad-uri, tlsrpt-no-usable-uri,
// tlsrpt-uri-ignored, tlsrpt-uri-unusable, tlsrpt-unknown-field; dane-insecure-mx, dane-none,
// dane-bogus, dane-unusable, dane-secure, dane-no-tls, dane-mismatch,
// dane-ok, dane-sts-conflict, dane-all-fail.
//
// Exit status: 0 no errors (warnings allowed); 1 at least one error; 2 the
// domain could not be checked (no DNS server answered); 64 usage.
package main

import (
	"context"
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

// Exit statuses; a usage error is cli.ExitUsage (64).
const (
	exitOK        = 0
	exitErrors    = 1
	exitUnchecked = 2
)

// Severities.
const (
	sevError   = "error"
	sevWarning = "warning"
	sevInfo    = "info"
)

// finding is one thing the checker has to say.
type finding struct {
	Code     string              `json:"code"`  // stable: see the package documentation
	Check    string              `json:"check"` // dns, record, policy-host, policy, mx, dane, tlsrpt
	Severity string              `json:"severity"`
	Subject  string              `json:"subject"` // the name concerned
	Message  string              `json:"message"`
	Result   validate.ResultType `json:"result,omitempty"`
	Expires  time.Time           `json:"expires,omitzero"` // a certificate's or a fetched policy's
	Line     int                 `json:"line,omitempty"`   // of the policy file, for fix- codes
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
	cmd := cli.NewCommand("check", "usage: check [-dns ADDR] [-ca FILE] [-https-port N] [-smtp-addr HOST=[IP]:PORT]... [-no-smtp] [-dane] [-timeout D] [-json] DOMAIN", stderr)
	fs := cmd.Flags
	var world cli.World
	world.Register(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for the whole check")
	asJSON := fs.Bool("json", false, "print one JSON object")
	noSMTP := fs.Bool("no-smtp", false, "skip the SMTP dialogues with the MX hosts (port 25)")
	useDANE := fs.Bool("dane", false, "the -dns servers validate DNSSEC: check DANE (TLSA records) of each MX host too")
	smtpAddrs := smtpc.Overrides{}
	smtpAddrs.Register(fs)
	if status, ok := cmd.Parse(args); !ok {
		return status
	}
	if fs.NArg() != 1 || *timeout <= 0 || world.Check() != nil {
		return cmd.Usage()
	}
	domain, err := resolver.Normalize(fs.Arg(0))
	if err != nil {
		return cmd.UsageError(err)
	}
	dc, roots, err := world.Open()
	if err != nil {
		return cmd.UsageError(err)
	}
	r, err := resolver.New(resolver.Options{DNS: dc.Servers(), RootCAs: roots, HTTPSPort: world.HTTPSPort, FetchTimeout: *timeout, DNSSEC: *useDANE})
	if err != nil {
		return cmd.UsageError(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	c := &checker{domain: domain, dns: dc, res: r, roots: roots, httpsPort: world.HTTPSPort,
		dial: &smtpc.Dialer{DNS: dc, Overrides: smtpAddrs}, noSMTP: *noSMTP, dane: *useDANE, now: time.Now()}
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
		if err := cli.WriteJSON(stdout, rep); err != nil {
			cmd.Error(err)
		}
	} else {
		printHuman(stdout, rep)
	}
	switch {
	case c.unchecked:
		return exitUnchecked
	case rep.Errors > 0:
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
	prev := ""
	for _, f := range rep.Findings {
		msg := f.Message
		if f.Subject != "" && f.Subject != prev {
			msg = f.Subject + ": " + msg
		}
		prev = f.Subject
		if f.Result != "" {
			msg += " [" + string(f.Result) + "]"
		}
		fmt.Fprintf(w, "%-7s  %-*s  %s\n", f.Severity, width, f.Check, msg)
	}
	fmt.Fprintf(w, "\n%s, %s\n", plural(rep.Errors, "error"), plural(rep.Warnings, "warning"))
	for _, f := range rep.Findings {
		if f.Code == "mx-all-fail" || f.Code == "dane-all-fail" || f.Code == "dns-unreachable" || f.Code == "domain-not-found" {
			fmt.Fprintf(w, "%s: %s\n", f.Subject, f.Message)
		}
	}
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

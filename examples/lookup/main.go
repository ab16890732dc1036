// Command lookup shows the MTA-STS policy of a domain and, for each MX host
// given, the verdict a sender would apply. With no MX host given, it checks
// the domain's own MX hosts, looked up through the same DNS (the domain
// itself if it has none, nothing for a null MX).
//
//	lookup [-dns ADDR] [-ca FILE] [-https-port N] [-timeout D] [-json] [-dane] DOMAIN [MX...]
//
// It prints the _mta-sts record's id, the policy, the parser's warnings and
// one line per MX host. With -json it prints one JSON object instead:
//
//	{"domain": "...", "id": "...",
//	 "policy": {"version": "STSv1", "mode": "...", "max_age": 86400, "mx": ["..."]},
//	 "source": "fetched", "expires": "2026-12-02T21:00:00Z",
//	 "warnings": ["..."], "failure": "sts-policy-fetch-error", "temporary": false,
//	 "error": "...",
//	 "mx": [{"host": "...", "action": "deliver", "reason": "...", "result": "..."}]}
//
// "policy" is null when no policy is in effect; "source" (cache, fetched or
// stale) and "expires" (RFC 3339) are present only with a policy;
// "failure", the RFC 8460 result type of a failed fetch, and "error", the
// text of the failure, are absent when there is none; "action" is one of
// deliver, refuse, deliver-without-sts, defer; an MX host's "result" is the
// RFC 8460 result type its delivery reports, absent when none.
//
// -dane says that the DNS servers validate DNSSEC and are trusted to (a
// local Unbound, say): DANE (RFC 7672) is then decided beside MTA-STS, and
// each MX object also carries "dane": none (no TLSA records, or an insecure
// zone), secure (usable TLSA records govern the host, whatever the MTA-STS
// mode), unusable (validated TLSA records, none usable: TLS without
// authentication) or bogus (a DNSSEC lookup failed: not this MX); and
// "tlsa", the host's validated TLSA records in presentation form. "action"
// then follows the precedence of RFC 8461 section 2: DANE decides a host
// with usable records.
//
// -timeout bounds the policy fetch (the resolver's FetchTimeout); the
// lookup and each MX check get a little more, so that a policy host that
// stalls always reads as a failed fetch (exit 1), never as a temporary
// failure.
//
// Exit status: 0 a policy is in effect; 1 no policy is in effect (no
// record, or the fetch failed: "failure" says which); 2 the TXT lookup failed
// temporarily (whether a policy exists is unknown); 3 a policy was fetched
// but is invalid (sts-policy-invalid); 64 usage (0 for -h).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/cli"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

// Exit statuses; a usage error is cli.ExitUsage (64).
const (
	exitPolicy    = 0
	exitNoPolicy  = 1
	exitTemporary = 2
	exitInvalid   = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type jsonPolicy struct {
	Version string   `json:"version"`
	Mode    string   `json:"mode"`
	MaxAge  uint32   `json:"max_age"`
	MX      []string `json:"mx"`
}

type jsonMX struct {
	Host   string `json:"host"`
	Action string `json:"action"`
	Reason string `json:"reason"`
	Result string `json:"result,omitempty"` // the RFC 8460 result type
	// With -dane only:
	DANE string    `json:"dane,omitempty"` // none, secure, unusable or bogus
	TLSA *[]string `json:"tlsa,omitempty"` // the validated TLSA records
}

type report struct {
	Domain    string      `json:"domain"`
	ID        string      `json:"id"`
	Policy    *jsonPolicy `json:"policy"`
	Source    string      `json:"source,omitempty"`
	Expires   string      `json:"expires,omitempty"`
	Warnings  []string    `json:"warnings"`
	Failure   string      `json:"failure,omitempty"`
	Temporary bool        `json:"temporary"`
	Error     string      `json:"error,omitempty"`
	MX        []jsonMX    `json:"mx"`

	err error
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := cli.NewCommand("lookup", "usage: lookup [-dns ADDR] [-ca FILE] [-https-port N] [-timeout D] [-json] [-dane] DOMAIN [MX...]", stderr)
	fs := cmd.Flags
	var world cli.World
	world.Register(fs)
	timeout := fs.Duration("timeout", resolver.DefaultFetchTimeout, "deadline of the policy fetch (the lookup gets a little more)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	withDANE := fs.Bool("dane", false, "the DNS servers validate DNSSEC: decide DANE too")
	if status, ok := cmd.Parse(args); !ok {
		return status // exitPolicy (0) after -h: help was asked for, and given
	}
	if fs.NArg() < 1 || *timeout <= 0 || world.Check() != nil {
		return cmd.Usage()
	}
	roots, err := world.Roots()
	if err != nil {
		return cmd.UsageError(err)
	}
	opts := resolver.Options{DNS: dnsclient.ParseServers(world.DNS), RootCAs: roots, HTTPSPort: world.HTTPSPort, FetchTimeout: *timeout,
		DNSSEC: *withDANE}
	domain, err := resolver.Normalize(fs.Arg(0))
	if err != nil {
		return cmd.UsageError(err)
	}
	r, err := resolver.New(opts)
	if err != nil {
		return cmd.UsageError(err)
	}
	defer r.Close()
	wait := *timeout + margin(*timeout)
	mxs := fs.Args()[1:]
	if len(mxs) == 0 {
		mxs = lookupMX(&world, domain, wait, stderr)
	}

	rep, code := lookup(r, domain, mxs, wait, *withDANE)
	if *asJSON {
		if err := cli.WriteJSON(stdout, rep); err != nil {
			cmd.Error(err)
		}
	} else {
		printHuman(stdout, rep)
	}
	return code
}

// lookupMX returns the MX hosts of domain, most preferred first, as a sender
// finds them: the domain itself when it has no MX records (RFC 5321
// section 5.1), none for a null MX (RFC 7505). Failures are reported on
// stderr; the hosts found are still checked.
func lookupMX(world *cli.World, domain string, wait time.Duration, stderr io.Writer) []string {
	c, err := world.DNSClient()
	if err != nil {
		fmt.Fprintln(stderr, "lookup: mx:", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	mxs, err := c.MX(ctx, domain)
	if err != nil {
		fmt.Fprintln(stderr, "lookup: mx:", err)
		if len(mxs) == 0 {
			return nil
		}
	}
	if len(mxs) == 0 {
		return []string{domain}
	}
	var hosts []string
	for _, m := range mxs {
		if m.Host != "" { // a null MX: the domain accepts no mail
			hosts = append(hosts, m.Host)
		}
	}
	return hosts
}

// margin is how much longer than the fetch's deadline the lookup waits: a
// fetch that fails at its deadline reports that failure (exit 1), rather than
// losing a race with the caller's own deadline.
func margin(timeout time.Duration) time.Duration {
	return min(max(timeout/4, time.Second), 10*time.Second)
}

// lookup looks the domain's policy up and checks each MX host, each call
// with its own deadline of wait.
func lookup(r *resolver.Resolver, domain string, mxs []string, wait time.Duration, withDANE bool) (*report, int) {
	rep := &report{Domain: domain, Warnings: []string{}, MX: []jsonMX{}}
	code := exitNoPolicy
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	e, err := r.Lookup(ctx, domain)
	cancel()
	if e != nil {
		rep.ID = e.ID
	}
	var fe *resolver.FetchError
	switch {
	case err == nil && e != nil:
		code = exitPolicy
		rep.Source = e.Source.String()
		rep.Expires = e.Expires.UTC().Format(time.RFC3339)
		rep.Policy = &jsonPolicy{Version: "STSv1", Mode: e.Policy.Mode.String(), MaxAge: e.Policy.MaxAge,
			MX: append([]string{}, e.Policy.MX...)}
		for _, w := range e.Warnings {
			rep.Warnings = append(rep.Warnings, w.String())
		}
	case errors.As(err, &fe):
		rep.Failure = string(fe.Result())
		rep.err = err
		if fe.Result() == validate.ResultSTSPolicyInvalid {
			code = exitInvalid
		}
	case err != nil:
		rep.err = err
		var de *resolver.DNSError
		if errors.As(err, &de) && de.Temporary || errors.Is(err, context.DeadlineExceeded) {
			rep.Temporary = true
			code = exitTemporary
		}
	}
	if rep.err != nil {
		rep.Error = rep.err.Error()
	}
	for _, mx := range mxs {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		d, err := r.Check(ctx, domain, mx)
		cancel()
		m := jsonMX{Host: mx, Action: d.Action.String(), Reason: d.Reason, Result: string(d.Result)}
		if err != nil {
			m.Action, m.Reason = resolver.Defer.String(), err.Error()
		}
		if d.MX != "" {
			m.Host = d.MX
		}
		if withDANE {
			m.DANE = d.DANEStatus.String()
			tlsa := []string{}
			if d.DANE != nil {
				tlsa = d.DANE.PolicyStrings()
			}
			m.TLSA = &tlsa
		}
		rep.MX = append(rep.MX, m)
	}
	return rep, code
}

// printHuman prints the report as a column of labelled lines, then a
// table of the MX hosts.
func printHuman(w io.Writer, rep *report) {
	row := func(k, v string) { fmt.Fprintf(w, "%-9s %s\n", k, v) }
	row("domain", rep.Domain)
	switch {
	case rep.Policy != nil:
		row("record", "v=STSv1; id="+rep.ID)
		mode := "mode " + rep.Policy.Mode
		if rep.Policy.Mode == "none" {
			mode += " (the domain has switched MTA-STS off)"
		}
		row("policy", fmt.Sprintf("%s, max_age %d (%s), %s, expires %s", mode, rep.Policy.MaxAge,
			age(rep.Policy.MaxAge), rep.Source, rep.Expires))
		if len(rep.Policy.MX) > 0 {
			row("mx", strings.Join(rep.Policy.MX, ", "))
		}
	case rep.Temporary:
		row("record", "unknown: "+rep.err.Error())
		row("policy", "unknown: try again later")
	case rep.Failure != "":
		row("record", "v=STSv1; id="+rep.ID)
		row("policy", "no policy in effect: "+rep.Failure)
		row("error", rep.err.Error())
	case rep.err != nil:
		row("policy", "no policy: "+rep.err.Error())
	default:
		row("record", "none")
		row("policy", "no policy: the domain publishes no _mta-sts record")
	}
	for _, warn := range rep.Warnings {
		row("warning", warn)
	}
	if len(rep.MX) == 0 {
		return
	}
	fmt.Fprintln(w)
	cells := [][4]string{{"MX HOST", "VERDICT", "TLS-RPT", "WHY"}}
	for _, m := range rep.MX {
		result := m.Result
		if result == "" {
			result = "-"
		}
		cells = append(cells, [4]string{m.Host, m.Action, result, m.Reason})
	}
	var width [3]int
	for _, c := range cells {
		for i := range width {
			width[i] = max(width[i], len(c[i]))
		}
	}
	for _, c := range cells {
		fmt.Fprintf(w, "%-*s  %-*s  %-*s  %s\n", width[0], c[0], width[1], c[1], width[2], c[2], c[3])
	}
	for _, m := range rep.MX {
		if m.DANE == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s: dane %s\n", m.Host, m.DANE)
		for _, t := range *m.TLSA {
			fmt.Fprintf(w, "  tlsa %s\n", t)
		}
	}
}

// age renders max_age in the largest whole unit that fits.
func age(seconds uint32) string {
	d := time.Duration(seconds) * time.Second
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

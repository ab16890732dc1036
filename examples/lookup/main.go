// Command lookup shows the MTA-STS policy of a domain and, for each MX host
// given, the verdict a sender would apply.
//
//	lookup [-dns ADDR] [-ca FILE] [-https-port N] [-timeout D] [-json] DOMAIN [MX...]
//
// It prints the _mta-sts record's id, the policy, the parser's warnings and
// one line per MX host. With -json it prints one JSON object instead:
//
//	{"domain": "...", "id": "...",
//	 "policy": {"version": "STSv1", "mode": "...", "max_age": 86400, "mx": ["..."]},
//	 "warnings": ["..."], "failure": "sts-policy-fetch-error", "temporary": false,
//	 "mx": [{"host": "...", "action": "deliver", "reason": "..."}]}
//
// "policy" is null when no policy is in effect; "failure", the RFC 8460
// result type of a failed fetch, is absent when there is none; "action" is
// one of deliver, refuse, deliver-without-sts, defer.
//
// Exit status: 0 a policy is in effect; 1 no policy is in effect (no
// record, or the fetch failed: "failure" says which); 2 the TXT lookup failed
// temporarily (whether a policy exists is unknown); 3 a policy was fetched
// but is invalid (sts-policy-invalid); 64 usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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

// Exit statuses.
const (
	exitPolicy    = 0
	exitNoPolicy  = 1
	exitTemporary = 2
	exitInvalid   = 3
	exitUsage     = 64
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

	result string // the RFC 8460 result type, for the human output
}

type report struct {
	Domain    string      `json:"domain"`
	ID        string      `json:"id"`
	Policy    *jsonPolicy `json:"policy"`
	Warnings  []string    `json:"warnings"`
	Failure   string      `json:"failure,omitempty"`
	Temporary bool        `json:"temporary"`
	MX        []jsonMX    `json:"mx"`

	source string // for the human output
	err    error
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var world cli.World
	world.Register(fs)
	timeout := fs.Duration("timeout", resolver.DefaultFetchTimeout, "deadline for the whole lookup")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lookup [-dns ADDR] [-ca FILE] [-https-port N] [-timeout D] [-json] DOMAIN [MX...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() < 1 || *timeout <= 0 || world.Check() != nil {
		fs.Usage()
		return exitUsage
	}
	roots, err := world.Roots()
	if err != nil {
		fmt.Fprintln(stderr, "lookup:", err)
		return exitUsage
	}
	opts := resolver.Options{DNS: dnsclient.ParseServers(world.DNS), RootCAs: roots, HTTPSPort: world.HTTPSPort, FetchTimeout: *timeout}
	domain, err := resolver.Normalize(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "lookup:", err)
		return exitUsage
	}
	r, err := resolver.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "lookup:", err)
		return exitUsage
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	rep, code := lookup(ctx, r, domain, fs.Args()[1:])
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "lookup:", err)
		}
	} else {
		printHuman(stdout, rep)
	}
	return code
}

func lookup(ctx context.Context, r *resolver.Resolver, domain string, mxs []string) (*report, int) {
	rep := &report{Domain: domain, Warnings: []string{}, MX: []jsonMX{}}
	code := exitNoPolicy
	e, err := r.Lookup(ctx, domain)
	if e != nil {
		rep.ID = e.ID
	}
	var fe *resolver.FetchError
	switch {
	case err == nil && e != nil:
		code = exitPolicy
		rep.source = e.Source.String()
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
	for _, mx := range mxs {
		d, err := r.Check(ctx, domain, mx)
		m := jsonMX{Host: mx, Action: d.Action.String(), Reason: d.Reason, result: string(d.Result)}
		if err != nil {
			m.Action, m.Reason = resolver.Defer.String(), err.Error()
		}
		if d.MX != "" {
			m.Host = d.MX
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
		row("policy", fmt.Sprintf("%s, max_age %d (%s), %s", rep.Policy.Mode, rep.Policy.MaxAge,
			age(rep.Policy.MaxAge), rep.source))
		if len(rep.Policy.MX) > 0 {
			row("mx", strings.Join(rep.Policy.MX, ", "))
		}
	case rep.Temporary:
		row("record", "unknown: "+rep.err.Error())
		row("policy", "unknown: try again later")
	case rep.Failure != "":
		row("record", "v=STSv1; id="+rep.ID)
		row("policy", "none in effect: "+rep.Failure)
		row("error", rep.err.Error())
	case rep.err != nil:
		row("policy", "none: "+rep.err.Error())
	default:
		row("record", "none")
		row("policy", "none: the domain publishes no _mta-sts record")
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
		result := m.result
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

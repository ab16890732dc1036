package resolver_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/resolver"
)

// When the _mta-sts lookup fails temporarily and nothing is cached, Check
// defers for at most Options.TemporaryErrorGrace, then delivers without
// MTA-STS. A Postfix policy server answers "TEMP <reason>" while it defers.
func ExampleOptions_temporaryErrorGrace() {
	w, opts := world()
	defer w.Close()
	w.Fault("_mta-sts.example.test", testserver.ServFail)

	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	opts.Clock = func() time.Time { return now }
	opts.TemporaryErrorGrace = 30 * time.Minute // the default; resolver.GraceForever never gives up
	r, err := resolver.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for _, after := range []time.Duration{0, 20 * time.Minute, 15 * time.Minute} {
		now = now.Add(after)
		d, err := r.Check(context.Background(), "example.test", "mx1.example.test")
		if err != nil {
			log.Fatal(err)
		}
		switch d.Action {
		case resolver.Defer:
			fmt.Printf("TEMP %s (until %s)\n", d.Reason, d.GraceEnds.Format("15:04"))
		default:
			fmt.Printf("%s: %s\n", d.Action, d.Reason)
		}
	}
	// Output:
	// TEMP _mta-sts lookup failed temporarily (until 12:30)
	// TEMP _mta-sts lookup failed temporarily (until 12:30)
	// deliver-without-sts: _mta-sts lookup failing for longer than the grace, delivering without MTA-STS
}

// A Decision logs as one line with fmt, and as a group of fields with
// log/slog.
func ExampleDecision_LogValue() {
	w, opts := world()
	defer w.Close()
	r, err := resolver.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	d, err := r.Check(context.Background(), "example.test", "mx9.attacker.example")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d)
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // a stable output for the example
			}
			return a
		},
	}))
	logger.Info("delivery", "decision", d)
	// Output:
	// refuse example.test mx mx9.attacker.example: mx does not match the policy (policy mx: mx1.example.test, *.mx.example.test) [mode enforce, id 20261123, source fetched, result validation-failure]
	// level=INFO msg=delivery decision.action=refuse decision.domain=example.test decision.mx=mx9.attacker.example decision.reason="mx does not match the policy (policy mx: mx1.example.test, *.mx.example.test)" decision.mode=enforce decision.id=20261123 decision.source=fetched decision.result=validation-failure
}

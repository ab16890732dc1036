package mtaststest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mtasts-go/mtasts/mtaststest"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

// A test of a whole delivery: the delivery code of README.md (the mta type,
// in readme_example_test.go) sends one message to each of four domains of
// the world, looking up their MX hosts through the world's DNS and dialling
// them through the world, then builds the day's TLS-RPT reports.
//
// The domains: example.test has an enforce policy, an MX host its policy
// does not list (mx.attacker.test, preference 10) and a first listed MX
// host whose certificate has expired, so the message goes to mx2; plain.test
// has no policy and an MX host whose certificate names another host, which
// opportunistic TLS accepts; testing.test has a testing policy and an MX
// host without STARTTLS, which gets the message in plaintext and is
// reported; "bad..test" is not a domain name, a permanent error.
func Example() {
	w, err := mtaststest.New() // in a test: w := mtaststest.NewWorld(t)
	if err != nil {
		panic(err)
	}
	defer w.Close()
	w.AddDomain("example.test", mtaststest.Policy{Mode: "enforce", MaxAge: 86400,
		MX: []string{"mx1.example.test", "mx2.example.test"}})
	w.AddMXHost("mx.attacker.test")
	w.SetMX("example.test", "mx.attacker.test", "mx1.example.test", "mx2.example.test")
	w.Fault("mx1.example.test", mtaststest.CertExpired)
	w.AddMXHost("mx.plain.test")
	w.SetMX("plain.test", "mx.plain.test")
	w.Fault("mx.plain.test", mtaststest.CertWrongHost)
	w.AddDomain("testing.test", mtaststest.Policy{Mode: "testing", MaxAge: 86400, MX: []string{"mx.testing.test"}})
	w.Fault("mx.testing.test", mtaststest.NoSTARTTLS)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	m := &mta{r: w.Resolver(), rec: tlsrpt.NewRecorder(tlsrpt.Options{Clock: func() time.Time { return now }}),
		dial: w.DialContext, hostname: "mta.origin.test"}
	for _, domain := range []string{"example.test", "plain.test", "testing.test", "bad..test"} {
		mxs, _ := w.LookupMX(ctx, domain)
		if len(mxs) == 0 {
			mxs = []*net.MX{{Host: domain}} // the implicit MX (RFC 5321 section 5.1)
		}
		err := m.deliver(ctx, domain, mxs, "alice@origin.test", "bob@"+domain, []byte("Subject: hi\r\n\r\nhello\r\n"))
		switch {
		case err == nil:
			fmt.Printf("%s: delivered\n", domain)
		case errors.Is(err, errTryLater):
			fmt.Printf("%s: queued: %v\n", domain, err)
		default:
			fmt.Printf("%s: bounced: %T\n", domain, err)
		}
	}
	for _, host := range []string{"mx.attacker.test", "mx1.example.test", "mx2.example.test", "mx.plain.test", "mx.testing.test"} {
		for _, msg := range w.Messages(host) {
			fmt.Printf("%s got the message for %s, TLS %v\n", host, strings.Join(msg.To, ","), msg.TLS)
		}
	}

	day := now
	now = now.Add(24 * time.Hour) // the day is over: its reports can be built
	reports, err := m.rec.Reports(day, tlsrpt.ReportOptions{OrganizationName: "Origin", ContactInfo: "tlsrpt@origin.test"})
	if err != nil {
		panic(err)
	}
	for _, rep := range reports {
		for _, p := range rep.Policies {
			fmt.Printf("TLS-RPT %s (%s): %d successful, %d failed", p.Policy.Domain, p.Policy.Type,
				p.Summary.TotalSuccessful, p.Summary.TotalFailure)
			for _, f := range p.FailureDetails {
				fmt.Printf(", %s at %s", f.ResultType, f.ReceivingMXHostname)
			}
			fmt.Println()
		}
	}
	// Output:
	// example.test: delivered
	// plain.test: delivered
	// testing.test: delivered
	// bad..test: bounced: *resolver.DomainError
	// mx2.example.test got the message for bob@example.test, TLS true
	// mx.plain.test got the message for bob@plain.test, TLS true
	// mx.testing.test got the message for bob@testing.test, TLS false
	// TLS-RPT example.test (sts): 1 successful, 2 failed, certificate-expired at mx1.example.test, validation-failure at mx.attacker.test
	// TLS-RPT plain.test (no-policy-found): 1 successful, 0 failed
	// TLS-RPT testing.test (sts): 0 successful, 1 failed, starttls-not-supported at mx.testing.test
}

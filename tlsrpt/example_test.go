package tlsrpt_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/tlsrpt"
	"github.com/mtasts-go/mtasts/validate"
)

func ExampleParseTXT() {
	rec, err := tlsrpt.ParseTXT([]string{
		"v=spf1 -all",
		"v=TLSRPTv1; rua=mailto:tlsrpt@example.com, https://reports.example.com/v1; rua=http://old.example/",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.RUA)
	fmt.Println("ignored:", rec.Ignored)

	_, err = tlsrpt.ParseRecord("v=TLSRPTv1; rua=mailto:a@example.com!10m")
	fmt.Println(err)
	// Output:
	// [mailto:tlsrpt@example.com https://reports.example.com/v1]
	// ignored: [http://old.example/]
	// tlsrpt: "rua": "mailto:a@example.com!10m": malformed rua URI
}

func ExampleRecorder() {
	now := time.Date(2016, 4, 1, 10, 0, 0, 0, time.UTC)
	rec := tlsrpt.NewRecorder(tlsrpt.Options{Clock: func() time.Time { return now }})
	p, _, _ := policy.Parse([]byte("version: STSv1\nmode: testing\nmx: *.mail.company-y.example\nmax_age: 86400\n"))

	for range 3 {
		rec.Record(tlsrpt.Result{Domain: "company-y.example", Policy: p, ReceivingMX: "mx1.mail.company-y.example"})
	}
	rec.Record(tlsrpt.Result{
		Domain:      "company-y.example",
		Policy:      p,
		ResultType:  validate.ResultCertificateExpired,
		SendingIP:   netip.MustParseAddr("198.51.100.62"),
		ReceivingMX: "mx2.mail.company-y.example",
		ReceivingIP: netip.MustParseAddr("::ffff:203.0.113.56"),
	})

	now = now.Add(24 * time.Hour) // the day is over
	reports, err := rec.Reports(now.Add(-24*time.Hour), tlsrpt.ReportOptions{
		OrganizationName: "Company-X",
		ContactInfo:      "tlsrpt@mail.company-x.example",
		UniqueID:         "mta1", // this node's; two nodes must not share one
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := reports[0]
	fmt.Println(r.Filename("", true))
	j, _ := r.JSON()
	os.Stdout.Write(append(j, '\n'))
	// Output:
	// mail.company-x.example!company-y.example!1459468800!1459555199.json.gz
	// {"organization-name":"Company-X","date-range":{"start-datetime":"2016-04-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},"contact-info":"tlsrpt@mail.company-x.example","report-id":"2016-04-01.company-y.example.mta1@mail.company-x.example","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: *.mail.company-y.example","max_age: 86400"],"policy-domain":"company-y.example","mx-host":["*.mail.company-y.example"]},"summary":{"total-successful-session-count":3,"total-failure-session-count":1},"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"198.51.100.62","receiving-mx-hostname":"mx2.mail.company-y.example","receiving-ip":"203.0.113.56","failed-session-count":1}]}]}
}

// A Reporter is the service an MTA switches on: it counts, journals,
// and once a day sends each domain's report, signed, and retries. A DKIM
// key record for it: "v=DKIM1; k=ed25519; s=email:tlsrpt; p=..." (not
// s=tlsrpt alone: see DKIM).
func ExampleReporter() {
	_, key, _ := ed25519.GenerateKey(rand.Reader) // in production: read from a file
	dir, _ := os.MkdirTemp("", "tlsrpt")          // in production: a directory that stays
	defer os.RemoveAll(dir)
	rep, err := tlsrpt.NewReporter(tlsrpt.ReporterOptions{
		OrganizationName: "Company-X",
		ContactInfo:      "tlsrpt@mail.company-x.example",
		Dir:              dir, // the journal: restarts lose nothing
		DNS:              tlsrpt.NetResolver{},
		Submit:           tlsrpt.SubmitSMTP(tlsrpt.SubmitOptions{Addr: "127.0.0.1:587"}),
		DKIM:             &tlsrpt.DKIM{Domain: "mail.company-x.example", Selector: "tlsrpt", Signer: key},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rep.Close()

	// Per session, with the resolver's verdict d and the handshake's error:
	//	rep.Record(tlsrpt.Session(d.Domain, d.MX, d.Policy, d.Result, err))
	// or let the handshake report itself:
	//	cfg := d.TLSConfigReport(base, tlsrpt.Hook(rep, d.Domain, d.MX, d.Policy))
	rep.Record(tlsrpt.Session("company-y.example", "mx1.company-y.example", nil, "", nil))
	// (No Output: comment, so that go test compiles this example but
	// does not run it: it would look up DNS and mail servers.)
}

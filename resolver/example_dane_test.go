package resolver_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/resolver"
)

// With Options.DNSSEC the DNS servers are trusted to validate DNSSEC, and
// DANE is decided beside MTA-STS: here the testing policy of example.test
// would only report a bad certificate, but mx1's DNSSEC-validated TLSA
// record makes TLS and a matching key mandatory, and mx2's bogus TLSA
// lookup rules mx2 out.
func ExampleOptions_dNSSEC() {
	w, err := testserver.New(testserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	w.AddDomain("example.test", testserver.Policy{Mode: "testing", MX: []string{"mx1.example.test", "mx2.example.test"}, MaxAge: 86400})
	w.SetSecure("example.test", true) // the world plays a validating resolver
	cert, _ := w.Certificate("mx1.example.test", 0)
	spki := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	w.SetTLSA("mx1.example.test", "3 1 1 "+hex.EncodeToString(spki[:]))
	w.Fault("_25._tcp.mx2.example.test", testserver.Bogus(0))

	r, err := resolver.New(resolver.Options{DNS: []string{w.DNSAddr()}, RootCAs: w.RootCAs(), HTTPSPort: w.HTTPSPort(),
		DNSSEC: true})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for _, mx := range []string{"mx1.example.test", "mx2.example.test"} {
		d, err := r.Check(context.Background(), "example.test", mx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s, dane %s, require TLS %v, report as %s %q\n", mx, d.Action, d.DANEStatus, d.RequireTLS, d.PolicyType(), d.Result)
	}
	// Output:
	// mx1.example.test: deliver, dane secure, require TLS true, report as tlsa ""
	// mx2.example.test: refuse, dane bogus, require TLS false, report as tlsa "dnssec-invalid"
}

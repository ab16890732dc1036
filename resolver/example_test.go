package resolver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/resolver"
)

// world starts a loopback DNS and HTTPS world publishing an enforce policy
// for example.test, and returns it with the options that point a resolver at
// it. A real MTA leaves Options empty: system DNS and roots.
func world() (*testserver.World, resolver.Options) {
	w, err := testserver.New(testserver.Options{})
	if err != nil {
		log.Fatal(err)
	}
	w.AddDomain("example.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.example.test", "*.mx.example.test"}, MaxAge: 86400, ID: "20261123"})
	return w, resolver.Options{DNS: []string{w.DNSAddr()}, RootCAs: w.RootCAs(), HTTPSPort: w.HTTPSPort()}
}

// An MTA calls Check before each delivery attempt, for each MX host in
// preference order, and dials with the TLS configuration it returns.
func ExampleResolver_Check() {
	w, opts := world()
	defer w.Close()

	r, err := resolver.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for _, mx := range []string{"mx9.attacker.example", "a.mx.example.test"} {
		d, err := r.Check(context.Background(), "example.test", mx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s, report %q\n", mx, d.Action, d.Result)
		if d.Action == resolver.Deliver || d.Action == resolver.DeliverWithoutSTS {
			// For the STARTTLS handshake with mx: opportunistic where no
			// policy applies, the policy's check where one does.
			cfg := d.TLSConfig(&tls.Config{InsecureSkipVerify: true})
			fmt.Println("ServerName:", cfg.ServerName)
			break
		}
	}
	// Output:
	// mx9.attacker.example: refuse, report "validation-failure"
	// a.mx.example.test: deliver, report ""
	// ServerName: a.mx.example.test
}

func ExampleResolver_Lookup() {
	w, opts := world()
	defer w.Close()

	r, err := resolver.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	e, err := r.Lookup(context.Background(), "Example.Test.")
	switch {
	case err != nil:
		fmt.Println("no policy in effect:", err)
	case e == nil:
		fmt.Println("no policy")
	default:
		fmt.Println(e.Domain, e.ID, e.Policy.Mode, e.Policy.MX, e.Source)
	}
	// Output: example.test 20261123 enforce [mx1.example.test *.mx.example.test] fetched
}

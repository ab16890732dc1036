package testserver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// A whole MTA-STS domain in one call, fetched with the world's own client.
func ExampleWorld_AddDomain() {
	w, err := testserver.New(testserver.Options{})
	if err != nil {
		panic(err)
	}
	defer w.Close()
	w.AddDomain("example.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.example.test"}, MaxAge: 86400})

	resp, err := w.HTTPClient().Get("https://mta-sts.example.test/.well-known/mta-sts.txt")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"))
	fmt.Print(strings.ReplaceAll(string(body), "\r\n", "\n")) // lines end in CRLF
	// Output:
	// 200 OK text/plain
	// version: STSv1
	// mode: enforce
	// mx: mx1.example.test
	// max_age: 86400
}

// A client as the resolver is one: the TXT record and the policy host's
// address come from the world's DNS, and only the HTTPS port is overridden.
func ExampleWorld_HTTPSPort() {
	w, err := testserver.New(testserver.Options{})
	if err != nil {
		panic(err)
	}
	defer w.Close()
	id, _ := w.AddDomain("example.test", testserver.Policy{Mode: "testing", MX: []string{"mx1.example.test"}, MaxAge: 600})

	lookup := func(name string, qtype uint16) []dns.RR {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := new(dns.Client).Exchange(m, w.DNSAddr())
		if err != nil {
			panic(err)
		}
		return r.Answer
	}
	txt := lookup("_mta-sts.example.test.", dns.TypeTXT)[0].(*dns.TXT).Txt[0]
	fmt.Println(txt == "v=STSv1; id="+id)
	ip := lookup("mta-sts.example.test.", dns.TypeA)[0].(*dns.A).A

	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: w.RootCAs()},
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort(ip.String(), strconv.Itoa(w.HTTPSPort())))
		},
	}}
	resp, err := client.Get("https://mta-sts.example.test/.well-known/mta-sts.txt")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, w.Fetches("example.test"))
	// Output:
	// true
	// 200 OK 1
}

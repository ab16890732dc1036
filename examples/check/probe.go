package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// policyPath is where the policy file is served.
const policyPath = "/.well-known/mta-sts.txt"

// existence is what the DNS says about the domain itself.
type existence int

const (
	exists      existence = iota
	nxdomain              // the name does not exist
	servfail              // a server answered SERVFAIL
	unreachable           // no server answered, or every one refused: the DNS could not be asked
)

// probe asks the servers, in order, for the SOA record of domain: an
// NXDOMAIN answer means the domain does not exist. The project's DNS client
// answers no records for both a missing name and a name without records of
// the type asked, so the checker asks itself.
func probe(ctx context.Context, servers []string, domain string) (existence, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(domain), dns.TypeSOA)
	cl := &dns.Client{Timeout: 5 * time.Second}
	sawServfail := false
	var last error = errors.New("no DNS servers")
	for _, srv := range servers {
		msg, _, err := cl.ExchangeContext(ctx, q, srv)
		if err == nil && msg.Truncated {
			tcp := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
			msg, _, err = tcp.ExchangeContext(ctx, q, srv)
		}
		switch {
		case err != nil:
			last = err
		case msg.Rcode == dns.RcodeSuccess:
			return exists, nil
		case msg.Rcode == dns.RcodeNameError:
			return nxdomain, nil
		case msg.Rcode == dns.RcodeServerFailure:
			sawServfail = true
		default:
			last = fmt.Errorf("%s answered %s", srv, dns.RcodeToString[msg.Rcode])
		}
	}
	if sawServfail {
		return servfail, nil
	}
	return unreachable, last
}

// maxPolicyBody bounds the policy file read for hints, as senders bound it.
const maxPolicyBody = 64 << 10

// fetchBody fetches the policy file as is, for the hints of an invalid
// policy; its certificate is checked elsewhere (policy-host).
func (c *checker) fetchBody(ctx context.Context) ([]byte, error) {
	host := "mta-sts." + c.domain
	addrs, err := c.dns.AllAddrs(ctx, host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("no address for %s: %v", host, err)
	}
	addr := net.JoinHostPort(addrs[0].String(), strconv.Itoa(c.policyPort()))
	var d net.Dialer
	client := &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   tlsAnyCert(host),
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+policyPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxPolicyBody))
}

// tlsAnyCert accepts any certificate from host.
func tlsAnyCert(host string) *tls.Config {
	return &tls.Config{ServerName: host, InsecureSkipVerify: true}
}

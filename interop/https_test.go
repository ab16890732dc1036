package interop

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/validate"
)

// The addresses of the HTTPS tests: one nginx listener per address.
const (
	httpsNSD     = "127.0.54.10"
	httpsUnbound = "127.0.54.11"
	httpsPlain   = "127.0.54.1" // HTTP/1.1, TLS 1.2 and 1.3
	httpsH2      = "127.0.54.2" // HTTP/2 and HTTP/1.1
	httpsTLS12   = "127.0.54.3" // TLS 1.2 only
	httpsTLS13   = "127.0.54.4" // TLS 1.3 only
)

// slowFetchTimeout is the fetch deadline of the resolver that meets the
// slow policy host.
const slowFetchTimeout = 2 * time.Second

// enforcePolicy is the policy file of domain, as an operator writes it.
func enforcePolicy(domain string) string { return policyFile("enforce", domain) }

// policyFile is the policy file of domain in mode, listing the one MX host
// mx1.domain, as an operator writes it.
func policyFile(mode, domain string) string {
	return "version: STSv1\nmode: " + mode + "\nmx: mx1." + domain + "\nmax_age: 86400\n"
}

// gzipped returns s compressed with gzip.
func gzipped(t testing.TB, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// httpsCase is a policy host and what the resolver must make of it.
type httpsCase struct {
	name string
	host vhost
	// cert returns the certificate spec for the host (nil: a valid one).
	cert func(name string) testserver.CertSpec
	// kind is the fetch failure expected, 0 for a valid policy.
	kind   resolver.FetchKind
	result validate.ResultType
	status int
	// tls is the TLS version nginx must log for the fetch, if not "".
	tls string
	// logged is what nginx's access log line of the fetch must hold (the
	// response's headers are logged), if not "".
	logged string
	// timeout: the resolver with slowFetchTimeout is used.
	timeout bool
}

func httpsCases(t *testing.T) []httpsCase {
	large := enforcePolicy("large.test") + strings.Repeat("x_padding: "+strings.Repeat("p", 100)+"\n", 700)
	bomb := enforcePolicy("gzipbomb.test") + strings.Repeat("x_padding: "+strings.Repeat("p", 100)+"\n", 10000)
	now := time.Now()
	return []httpsCase{
		{name: "good policy over HTTP/1.1", host: vhost{domain: "good.test", ip: httpsPlain, listen: "ssl"}},
		{name: "good policy where HTTP/2 is offered", host: vhost{domain: "h2.test", ip: httpsH2, listen: "ssl http2"}},
		{name: "text/plain with charset utf-8", host: vhost{domain: "charset.test", ip: httpsPlain, listen: "ssl", conf: "charset utf-8;"},
			logged: `"text/plain; charset=utf-8" "-"`},
		{name: "wrong media type", host: vhost{domain: "wrongtype.test", ip: httpsPlain, listen: "ssl", conf: "types { } default_type text/html;"},
			kind: resolver.FetchContentType, result: validate.ResultSTSPolicyInvalid},
		{name: "301 redirect", host: vhost{domain: "redirect.test", ip: httpsPlain, listen: "ssl",
			conf: "return 301 https://mta-sts.good.test/.well-known/mta-sts.txt;"},
			kind: resolver.FetchRedirect, result: validate.ResultSTSPolicyFetchError, status: 301},
		{name: "404", host: vhost{domain: "missing.test", ip: httpsPlain, listen: "ssl", body: "-"},
			kind: resolver.FetchStatus, result: validate.ResultSTSPolicyFetchError, status: 404},
		{name: "body over 64 KiB", host: vhost{domain: "large.test", ip: httpsPlain, listen: "ssl", body: large},
			kind: resolver.FetchTooLarge, result: validate.ResultSTSPolicyInvalid},
		{name: "gzip-encoded body", host: vhost{domain: "gzip.test", ip: httpsPlain, listen: "ssl",
			gz: gzipped(t, enforcePolicy("gzip.test")), conf: "gzip_static always;"},
			logged: `"text/plain" "gzip"`},
		{name: "gzip-encoded body over 64 KiB decoded", host: vhost{domain: "gzipbomb.test", ip: httpsPlain, listen: "ssl",
			gz: gzipped(t, bomb), conf: "gzip_static always;"},
			kind: resolver.FetchTooLarge, result: validate.ResultSTSPolicyInvalid},
		{name: "slow body past the fetch timeout", host: vhost{domain: "slow.test", ip: httpsPlain, listen: "ssl",
			body: enforcePolicy("slow.test") + strings.Repeat("x_padding: slow\n", 100), conf: "limit_rate 100;"},
			kind: resolver.FetchTimeout, result: validate.ResultSTSPolicyFetchError, timeout: true},
		{name: "expired certificate", host: vhost{domain: "expired.test", ip: httpsPlain, listen: "ssl"},
			cert: func(name string) testserver.CertSpec {
				return testserver.CertSpec{DNSNames: []string{name}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}
			},
			kind: resolver.FetchCertificate, result: validate.ResultSTSWebPKIInvalid},
		{name: "certificate for another name", host: vhost{domain: "wrongname.test", ip: httpsPlain, listen: "ssl"},
			cert: func(string) testserver.CertSpec {
				return testserver.CertSpec{DNSNames: []string{"mta-sts.other.test"}}
			},
			kind: resolver.FetchCertificate, result: validate.ResultSTSWebPKIInvalid},
		{name: "TLS 1.2 only", host: vhost{domain: "tls12.test", ip: httpsTLS12, listen: "ssl", tls: "TLSv1.2"}, tls: "TLSv1.2"},
		{name: "TLS 1.3 only", host: vhost{domain: "tls13.test", ip: httpsTLS13, listen: "ssl", tls: "TLSv1.3"}, tls: "TLSv1.3"},
	}
}

// httpsZone publishes, for each case, the _mta-sts record and the address
// of the policy host.
func httpsZone(cases []httpsCase) zoneFile {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN test.\n$TTL 300\n@\tIN SOA\tns1.test. hostmaster.test. ( 1 3600 600 86400 60 )\n\tIN NS\tns1.test.\nns1\tIN A\t%s\n", httpsNSD)
	for _, c := range cases {
		label := strings.TrimSuffix(c.host.domain, ".test")
		fmt.Fprintf(&b, "_mta-sts.%s\tIN TXT\t\"v=STSv1; id=%s1\"\nmta-sts.%s\tIN A\t%s\n",
			label, strings.ReplaceAll(label, "-", ""), label, c.host.ip)
	}
	return zoneFile{origin: "test.", text: b.String()}
}

// TestHTTPS fetches policies from nginx, which serves them for several
// policy hosts with certificates from the test's own CA.
func TestHTTPS(t *testing.T) {
	cases := httpsCases(t)
	ca, err := testserver.NewCA("interop https root", nil)
	if err != nil {
		t.Fatal(err)
	}
	hosts := make([]vhost, len(cases))
	for i, c := range cases {
		h := c.host
		name := "mta-sts." + h.domain
		spec := testserver.CertSpec{DNSNames: []string{name}}
		if c.cert != nil {
			spec = c.cert(name)
		}
		if h.cert, err = ca.Issue(spec); err != nil {
			t.Fatal(err)
		}
		switch h.body {
		case "":
			if h.gz == nil {
				h.body = enforcePolicy(h.domain)
			}
		case "-":
			h.body = "" // nothing there: 404
		}
		hosts[i] = h
	}
	dnsw := startDNS(t, httpsNSD, "", httpsUnbound, 0, httpsZone(cases))
	ngx := startNginx(t, 0, hosts)

	newResolver := func(timeout time.Duration) *resolver.Resolver {
		r, err := resolver.New(resolver.Options{DNS: []string{dnsw.unbound}, RootCAs: ca.Pool(),
			HTTPSPort: ngx.port, FetchTimeout: timeout, NoPolicyTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	r, slow := newResolver(10*time.Second), newResolver(slowFetchTimeout)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := r
			if c.timeout {
				r = slow
			}
			checkFetch(t, r, c)
			var log []string
			if c.tls != "" || c.logged != "" {
				// nginx writes the line once the response is sent, which
				// may be after the client has read it.
				waitFor(t, "nginx logs the fetch", 5*time.Second, ngx.proc, func() error {
					if log = ngx.accessLog(t, c.host.domain); len(log) == 0 {
						return errNotYet
					}
					return nil
				})
			}
			if c.tls != "" && (len(log) != 1 || !strings.Contains(log[0], " "+c.tls+" 200 ")) {
				t.Errorf("nginx access log %q; want one fetch over %s", log, c.tls)
			}
			if c.logged != "" && (len(log) != 1 || !strings.Contains(log[0], c.logged)) {
				t.Errorf("nginx access log %q; want one fetch answered with %s", log, c.logged)
			}
		})
	}
	t.Run("nginx speaks HTTP/2 to a client that asks", func(t *testing.T) {
		// The host of the HTTP/2 case serves the policy over HTTP/2 to a
		// client that offers it (the resolver's fetch, logged, may use
		// HTTP/1.1 by ALPN).
		tr := &http.Transport{
			ForceAttemptHTTP2: true,
			TLSClientConfig:   &tls.Config{RootCAs: ca.Pool()},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, net.JoinHostPort(httpsH2, strconv.Itoa(ngx.port)))
			},
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://mta-sts.h2.test/.well-known/mta-sts.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 || string(body) != enforcePolicy("h2.test") {
			t.Errorf("got %s %q; want HTTP/2 and the policy", resp.Proto, body)
		}
		t.Logf("the resolver's fetch, as nginx logged it: %q", ngx.accessLog(t, "h2.test"))
	})
	if t.Failed() {
		t.Log("nginx error.log:" + ngx.errorLog())
	}
}

// checkFetch looks the case's domain up, and checks the delivery decision
// for its MX host and the RFC 8460 result type.
func checkFetch(t *testing.T, r *resolver.Resolver, c httpsCase) {
	t.Helper()
	domain := c.host.domain
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	e, err := r.Lookup(ctx, domain)
	took := time.Since(start)
	id := strings.ReplaceAll(strings.TrimSuffix(domain, ".test"), "-", "") + "1"
	if c.kind == 0 {
		if err != nil || e == nil || e.Policy == nil || e.Policy.Mode != policy.ModeEnforce || e.ID != id {
			t.Fatalf("Lookup: %+v, %v; want the enforce policy of record %s", e, err, id)
		}
		d, err := r.Check(ctx, domain, "mx1."+domain)
		if err != nil || d.Action != resolver.Deliver || !d.RequireTLS || d.Result != "" {
			t.Errorf("Check: %+v, %v; want deliver, TLS required", d, err)
		}
		return
	}
	var fe *resolver.FetchError
	if !errors.As(err, &fe) || fe.Kind != c.kind || fe.Status != c.status || e == nil || e.ID != id {
		t.Fatalf("Lookup: %+v, %v; want record %s and a %v failure (status %d)", e, err, id, c.kind, c.status)
	}
	if fe.Result() != c.result {
		t.Errorf("result type %q; want %q", fe.Result(), c.result)
	}
	if c.timeout && took > slowFetchTimeout+3*time.Second {
		t.Errorf("the slow fetch took %v; want it cut at about %v", took, slowFetchTimeout)
	}
	// RFC 8461 section 3.3: with no valid policy, deliver as if there were
	// none, and report the failure.
	d, err := r.Check(ctx, domain, "mx1."+domain)
	if err != nil || d.Action != resolver.DeliverWithoutSTS || d.Result != c.result {
		t.Errorf("Check: %v %q, %v; want deliver-without-sts, %q", d.Action, d.Result, err, c.result)
	}
}

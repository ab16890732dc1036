package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

var testPolicy = Policy{Mode: "enforce", MX: []string{"mx1.example.test", "*.mx.example.test"}, MaxAge: 86400}

const policyURL = "https://mta-sts.example.test/.well-known/mta-sts.txt"

// get fetches url with client and returns the response with its body read.
func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func startDomain(t *testing.T) *World {
	t.Helper()
	w := Start(t)
	if _, err := w.AddDomain("example.test", testPolicy); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestHTTPSPolicy(t *testing.T) {
	w := startDomain(t)
	resp, body, err := get(t, w.HTTPClient(), policyURL)
	if err != nil {
		t.Fatal(err)
	}
	want := "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\nmax_age: 86400\r\n"
	if resp.StatusCode != 200 || string(body) != want || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("got %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.ProtoMajor != 1 || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("proto %s, TLS %x", resp.Proto, resp.TLS.Version)
	}
	if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != "mta-sts.example.test" {
		t.Errorf("certificate names %v", got)
	}
	if n := w.Fetches("Example.Test."); n != 1 {
		t.Errorf("Fetches = %d, want 1", n)
	}
	if n := w.Handshakes("mta-sts.example.test"); n != 1 {
		t.Errorf("Handshakes = %d, want 1", n)
	}

	for _, url := range []string{
		"https://mta-sts.other.test/.well-known/mta-sts.txt",
		"https://mta-sts.example.test/other",
	} {
		if resp, _, err := get(t, w.HTTPClient(), url); err != nil || resp.StatusCode != 404 {
			t.Errorf("%s: %v, %v; want 404", url, resp, err)
		}
	}

	w.SetPolicyBody("example.test", "garbage")
	if _, body, _ := get(t, w.HTTPClient(), policyURL); string(body) != "garbage" {
		t.Errorf("raw body %q", body)
	}
	w.RemovePolicy("example.test")
	if resp, _, _ := get(t, w.HTTPClient(), policyURL); resp.StatusCode != 404 {
		t.Errorf("removed policy: %d, want 404", resp.StatusCode)
	}
}

func TestHTTPSFaults(t *testing.T) {
	w := startDomain(t)
	const host = "mta-sts.example.test"
	policy := testPolicy.String()
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, resp *http.Response, body []byte)
	}{
		{"status_500_keeps_body", Status(500), func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 500 || string(body) != policy {
				t.Errorf("got %d %q", resp.StatusCode, body)
			}
		}},
		{"redirect_301", Redirect{301, "https://mta-sts.other.test/.well-known/mta-sts.txt"}, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://mta-sts.other.test/.well-known/mta-sts.txt" {
				t.Errorf("got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		}},
		{"redirect_307", Redirect{307, "https://elsewhere.test/"}, func(t *testing.T, resp *http.Response, body []byte) {
			if resp.StatusCode != 307 {
				t.Errorf("got %d", resp.StatusCode)
			}
		}},
		{"wrong_content_type", ContentType("text/html"), func(t *testing.T, resp *http.Response, body []byte) {
			if resp.Header.Get("Content-Type") != "text/html" || string(body) != policy {
				t.Errorf("got %q", resp.Header.Get("Content-Type"))
			}
		}},
		{"missing_content_type", ContentType(""), func(t *testing.T, resp *http.Response, body []byte) {
			if v, ok := resp.Header["Content-Type"]; ok {
				t.Errorf("Content-Type %q present", v)
			}
		}},
		{"large_body", LargeBody(64<<10 + 1), func(t *testing.T, resp *http.Response, body []byte) {
			if len(body) != 64<<10+1 || !bytes.HasPrefix(body, []byte(policy)) {
				t.Errorf("body of %d bytes", len(body))
			}
		}},
		{"gzip_bomb", GzipBomb(1 << 20), func(t *testing.T, resp *http.Response, body []byte) {
			// The transport inflated it transparently.
			if len(body) != 1<<20 || !resp.Uncompressed || !bytes.HasPrefix(body, []byte(policy)) {
				t.Errorf("inflated to %d bytes (uncompressed %v)", len(body), resp.Uncompressed)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.Fault(host, tt.fault)
			defer w.Fault(host)
			resp, body, err := get(t, w.HTTPClient(), policyURL)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, resp, body)
		})
	}
}

func TestHTTPSGzipBombIsSmallOnTheWire(t *testing.T) {
	w := startDomain(t)
	w.Fault("mta-sts.example.test", GzipBomb(1<<20))
	c := w.HTTPClient()
	c.Transport.(*http.Transport).DisableCompression = true
	req, _ := http.NewRequest("GET", policyURL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") != "gzip" || len(raw) > 64<<10 {
		t.Errorf("%q, %d compressed bytes", resp.Header.Get("Content-Encoding"), len(raw))
	}
}

func TestHTTPSSlow(t *testing.T) {
	w := startDomain(t)
	const host = "mta-sts.example.test"
	n := len(testPolicy.String())
	tests := []struct {
		name  string
		fault Fault
		min   time.Duration
	}{
		{"slow_headers", SlowHeaders(150 * time.Millisecond), 150 * time.Millisecond},
		{"trickle", Trickle(time.Millisecond), time.Duration(n) * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.Fault(host, tt.fault)
			start := time.Now()
			resp, body, err := get(t, w.HTTPClient(), policyURL)
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < tt.min || resp.StatusCode != 200 || len(body) != n {
				t.Errorf("%d bytes after %v, want %d after at least %v", len(body), el, n, tt.min)
			}
		})
	}

	// A client deadline cuts a trickle short.
	w.Fault(host, Trickle(50*time.Millisecond))
	c := w.HTTPClient()
	c.Timeout = 100 * time.Millisecond
	if _, _, err := get(t, c, policyURL); err == nil {
		t.Error("trickled body read within 100ms")
	}
}

func TestHTTPSConnReset(t *testing.T) {
	w := startDomain(t)
	w.Fault("mta-sts.example.test", ConnReset)
	_, _, err := get(t, w.HTTPClient(), policyURL)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("err = %v, want a connection reset", err)
	}
	if n := w.Fetches("example.test"); n != 1 {
		t.Errorf("Fetches = %d, want 1", n)
	}
}

func TestHTTPSLegacyTLS(t *testing.T) {
	w := startDomain(t)
	w.Fault("mta-sts.example.test", LegacyTLS)
	if _, _, err := get(t, w.HTTPClient(), policyURL); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("default client: err = %v, want a protocol version error", err)
	}
	c := w.HTTPClient()
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: w.RootCAs(), MinVersion: tls.VersionTLS10}
	resp, _, err := get(t, c, policyURL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TLS.Version > tls.VersionTLS11 {
		t.Errorf("negotiated %s", tls.VersionName(resp.TLS.Version))
	}
}

func TestHTTPSHandshakeStall(t *testing.T) {
	w := startDomain(t)
	w.Fault("mta-sts.example.test", HandshakeStall)
	c := w.HTTPClient()
	c.Timeout = 150 * time.Millisecond
	start := time.Now()
	_, _, err := get(t, c, policyURL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) < 150*time.Millisecond {
		t.Errorf("err = %v after %v, want a timeout", err, time.Since(start))
	}
	for i := 0; i < 200 && w.Handshakes("mta-sts.example.test") == 0; i++ {
		time.Sleep(10 * time.Millisecond) // the server may lag behind under load
	}
	if w.Handshakes("mta-sts.example.test") != 1 || w.Fetches("example.test") != 0 {
		t.Errorf("%d handshakes, %d fetches; want 1, 0", w.Handshakes("mta-sts.example.test"), w.Fetches("example.test"))
	}
}

func TestHTTPSCertFaults(t *testing.T) {
	w := startDomain(t)
	const host = "mta-sts.example.test"
	tests := []struct {
		fault CertFault
		check func(err error) bool
	}{
		{CertExpired, isInvalid(x509.Expired)},
		{CertNotYetValid, isInvalid(x509.Expired)},
		{CertWrongHost, isHostname},
		{CertCNOnly, isHostname},
		{CertUntrusted, isUnknownAuthority},
		{CertSelfSigned, isUnknownAuthority},
		{CertWildcard, func(err error) bool { return err == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			w.Fault(host, tt.fault)
			_, _, err := get(t, w.HTTPClient(), policyURL)
			if !tt.check(err) {
				t.Errorf("err = %v", err)
			}
			// The certificate itself, seen without verification.
			cert := peerCert(t, w, host)
			switch tt.fault {
			case CertWildcard:
				if len(cert.DNSNames) != 1 || cert.DNSNames[0] != "*.example.test" {
					t.Errorf("names %v", cert.DNSNames)
				}
			case CertCNOnly:
				if len(cert.DNSNames) != 0 || cert.Subject.CommonName != host {
					t.Errorf("names %v, CN %q", cert.DNSNames, cert.Subject.CommonName)
				}
			case CertSelfSigned:
				if cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
					t.Error("not self-signed")
				}
			}
		})
	}
	w.Fault(host)
	if _, _, err := get(t, w.HTTPClient(), policyURL); err != nil {
		t.Errorf("after clearing: %v", err)
	}
}

func isInvalid(r x509.InvalidReason) func(error) bool {
	return func(err error) bool {
		var e x509.CertificateInvalidError
		return errors.As(err, &e) && e.Reason == r
	}
}

func isHostname(err error) bool {
	var e x509.HostnameError
	return errors.As(err, &e)
}

func isUnknownAuthority(err error) bool {
	var e x509.UnknownAuthorityError
	return errors.As(err, &e)
}

// peerCert handshakes with the HTTPS server as sni without verifying.
func peerCert(t *testing.T, w *World, sni string) *x509.Certificate {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{ServerName: sni, InsecureSkipVerify: true}}
	c, err := d.DialContext(context.Background(), "tcp", w.HTTPSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

func TestHTTPSNoSNI(t *testing.T) {
	w := startDomain(t)
	c := &tls.Config{RootCAs: w.RootCAs(), ServerName: w.IP().String()}
	conn, err := tls.Dial("tcp", w.HTTPSAddr(), c)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestHTTPSPost(t *testing.T) {
	w := Start(t)
	resp, err := w.HTTPClient().Post("https://reports.example.test/tlsrpt", "application/tlsrpt+gzip", strings.NewReader("report"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p := w.Posts("reports.example.test")
	if resp.StatusCode != 200 || len(p) != 1 || string(p[0].Body) != "report" || p[0].Path != "/tlsrpt" || p[0].Header.Get("Content-Type") != "application/tlsrpt+gzip" {
		t.Errorf("got %d, %+v", resp.StatusCode, p)
	}
	w.Fault("reports.example.test", Status(503))
	resp, err = w.HTTPClient().Post("https://reports.example.test/tlsrpt", "application/tlsrpt+gzip", strings.NewReader("again"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || len(w.Posts("reports.example.test")) != 2 {
		t.Errorf("got %d", resp.StatusCode)
	}
}

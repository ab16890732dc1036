package resolver

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

// FetchKind says why fetching a policy failed.
type FetchKind uint8

// The kinds of fetch failure.
const (
	// FetchDNS: the policy host's addresses could not be found.
	FetchDNS FetchKind = iota + 1
	// FetchConnect: no TCP connection to the policy host.
	FetchConnect
	// FetchTLS: the TLS handshake failed for a reason other than the
	// certificate (a protocol version, an alert).
	FetchTLS
	// FetchCertificate: the policy host's certificate failed WebPKI
	// validation for mta-sts.<domain> (RFC 8461 section 3.3).
	FetchCertificate
	// FetchStatus: the answer was not 200 OK.
	FetchStatus
	// FetchRedirect: the answer was a redirect, which must not be followed.
	FetchRedirect
	// FetchContentType: the media type was missing or not text/plain.
	FetchContentType
	// FetchTooLarge: the body, after any decoding, exceeded the limit.
	FetchTooLarge
	// FetchTimeout: the fetch did not finish within its deadline.
	FetchTimeout
	// FetchHTTP: any other failure of the HTTP exchange (a reset
	// connection, a malformed response, a bad encoding).
	FetchHTTP
	// FetchInvalid: the policy was fetched but does not parse.
	FetchInvalid
)

var fetchKindNames = [...]string{
	FetchDNS:         "dns",
	FetchConnect:     "connect",
	FetchTLS:         "tls",
	FetchCertificate: "certificate",
	FetchStatus:      "status",
	FetchRedirect:    "redirect",
	FetchContentType: "content-type",
	FetchTooLarge:    "too-large",
	FetchTimeout:     "timeout",
	FetchHTTP:        "http",
	FetchInvalid:     "invalid-policy",
}

// String names the kind, such as "status" or "certificate".
func (k FetchKind) String() string {
	if int(k) < len(fetchKindNames) && fetchKindNames[k] != "" {
		return fetchKindNames[k]
	}
	return "fetch-kind-" + strconv.Itoa(int(k))
}

// FetchError reports a failure to fetch a policy from
// https://mta-sts.<domain>/.well-known/mta-sts.txt.
type FetchError struct {
	Kind   FetchKind // which step failed
	Host   string    // the policy host, mta-sts.<domain>
	Status int       // the HTTP status, for FetchStatus and FetchRedirect
	Err    error     // the cause, when there is one
}

// Error describes the failure, with the policy host and any status.
func (e *FetchError) Error() string {
	var b strings.Builder
	b.WriteString("resolver: fetching policy from ")
	b.WriteString(e.Host)
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.Status != 0 {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// Result returns the RFC 8460 result type to report for the failure:
// sts-webpki-invalid for a certificate the sender cannot trust,
// sts-policy-invalid for a body that is not a valid policy (wrong media type,
// too large, unparsable), sts-policy-fetch-error for the rest.
func (e *FetchError) Result() validate.ResultType {
	switch e.Kind {
	case FetchCertificate:
		return validate.ResultSTSWebPKIInvalid
	case FetchInvalid, FetchContentType, FetchTooLarge:
		return validate.ResultSTSPolicyInvalid
	}
	return validate.ResultSTSPolicyFetchError
}

// wellKnownPath is where the policy lives on the policy host (RFC 8461
// section 3.2).
const wellKnownPath = "/.well-known/mta-sts.txt"

// fetcher gets policy files over HTTPS.
type fetcher struct {
	client   *http.Client
	maxBody  int64
	dns      *dnsclient.Client
	port     string // the port to dial instead of 443, if set
	dialer   net.Dialer
	headerUA string
}

// targetKey carries, in a fetch's context, the policy host the fetch is for
// and any lookup of its addresses started before the fetch (concurrently
// with the TXT query). The dialer uses them for that host only: through a
// proxy, it dials the proxy.
type targetKey struct{}

type target struct {
	host    string
	pending *pendingAddrs // nil: look the addresses up when dialling
}

type pendingAddrs struct {
	done  chan struct{}
	addrs []netip.Addr
	err   error
}

func newFetcher(d *dnsclient.Client, roots *x509.CertPool, port int, maxBody int64, timeout time.Duration, proxy func(*http.Request) (*url.URL, error)) *fetcher {
	f := &fetcher{dns: d, maxBody: maxBody, headerUA: "mtasts-go (+https://github.com/mtasts-go/mtasts)"}
	// net/http dials detached from the request's context (so that another
	// request may use the connection), so every step needs a bound of its
	// own, or a tarpit would hold a goroutine and a socket for ever.
	f.dialer.Timeout = timeout
	if port != 0 {
		f.port = strconv.Itoa(port)
	}
	tr := &http.Transport{
		Proxy:       proxy, // nil: never a proxy unless configured
		DialContext: f.dial,
		TLSClientConfig: &tls.Config{
			RootCAs:    roots,
			MinVersion: tls.VersionTLS12, // RFC 8461 section 7.2
			// The policy file is public: what TLS must give it is
			// authenticity, which rests on the certificate's signature,
			// not on the key exchange. A post-quantum hybrid key exchange
			// (Go's default since 1.24) would protect only secrecy, and
			// costs about 0.3 ms of CPU per fetch on each side.
			CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
		},
		// A policy is fetched rarely: no idle connections (and no
		// goroutines) outlive a fetch, and nothing is decoded behind our
		// back; gzip is decoded below, under the size limit.
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 16 << 10,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
	}
	f.client = &http.Client{
		Transport: tr,
		// RFC 8461 section 3.3: redirects MUST NOT be followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f
}

// dial connects to the policy host: its addresses come from the resolver's
// own DNS, IPv4 first (looked up concurrently with the TXT record), then,
// only if none answers or there is none, IPv6. One address family is
// enough to fetch a policy, and the second lookup would cost every fetch a
// query. Any other address (a proxy's) is dialled as net/http would.
func (f *fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	t, ok := ctx.Value(targetKey{}).(target)
	if !ok || host != t.host {
		return f.dialer.DialContext(ctx, network, addr)
	}
	if f.port != "" {
		port = f.port
	}
	var v4 []netip.Addr
	if p := t.pending; p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		v4, err = p.addrs, p.err
	} else {
		v4, err = f.dns.Addrs(ctx, host, dns.TypeA)
	}
	var last error
	for _, try := range []uint16{dns.TypeA, dns.TypeAAAA} {
		addrs := v4
		if try == dns.TypeAAAA {
			var err6 error
			if addrs, err6 = f.dns.Addrs(ctx, host, dns.TypeAAAA); err6 != nil {
				err = err6
			}
		}
		for _, a := range addrs {
			c, err := f.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			last = err
		}
	}
	switch {
	case last != nil:
		return nil, last
	case err != nil:
		return nil, err
	}
	return nil, &DNSError{Name: host, Type: "A", Err: dnsclient.ErrNoAddress}
}

// prefetchAddrs starts looking up host's IPv4 addresses and returns a
// context that hands the result to the fetch's dialer, and a function that
// cancels the lookup if it is still running and waits for it to end.
func (f *fetcher) prefetchAddrs(ctx context.Context, host string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	p := &pendingAddrs{done: make(chan struct{})}
	go func() {
		p.addrs, p.err = f.dns.Addrs(ctx, host, dns.TypeA)
		close(p.done)
	}()
	return context.WithValue(ctx, targetKey{}, target{host: host, pending: p}), func() { cancel(); <-p.done }
}

// fetch gets and parses the policy of domain. ctx bounds the whole fetch.
func (f *fetcher) fetch(ctx context.Context, domain string) (*policy.Policy, []policy.Warning, error) {
	host := "mta-sts." + domain
	if t, ok := ctx.Value(targetKey{}).(target); !ok || t.host != host {
		ctx = context.WithValue(ctx, targetKey{}, target{host: host})
	}
	fail := func(kind FetchKind, status int, err error) (*policy.Policy, []policy.Warning, error) {
		return nil, nil, &FetchError{Kind: kind, Host: host, Status: status, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+wellKnownPath, nil)
	if err != nil {
		return fail(FetchHTTP, 0, err)
	}
	req.Header.Set("User-Agent", f.headerUA)
	resp, err := f.client.Do(req)
	if err != nil {
		return fail(classify(ctx, err), 0, unwrapURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fail(FetchRedirect, resp.StatusCode, nil)
	case resp.StatusCode != http.StatusOK:
		return fail(FetchStatus, resp.StatusCode, nil)
	}
	if err := checkContentType(resp.Header.Get("Content-Type")); err != nil {
		return fail(FetchContentType, 0, err)
	}
	if resp.ContentLength > f.maxBody {
		return fail(FetchTooLarge, 0, fmt.Errorf("content length %d exceeds %d bytes", resp.ContentLength, f.maxBody))
	}
	var body io.Reader = resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(io.LimitReader(resp.Body, f.maxBody+1))
		if err != nil {
			return fail(FetchHTTP, 0, err)
		}
		body = zr
	default:
		return fail(FetchHTTP, 0, fmt.Errorf("unsupported content encoding %q", enc))
	}
	b, err := io.ReadAll(io.LimitReader(body, f.maxBody+1))
	if err != nil {
		return fail(classify(ctx, err), 0, err)
	}
	if int64(len(b)) > f.maxBody {
		return fail(FetchTooLarge, 0, fmt.Errorf("body exceeds %d bytes", f.maxBody))
	}
	p, warnings, err := policy.Parse(b)
	if err != nil {
		return fail(FetchInvalid, 0, err)
	}
	return p, warnings, nil
}

// checkContentType accepts text/plain with any parameters (RFC 8461
// section 3.2; media types are case-insensitive).
func checkContentType(ct string) error {
	if ct == "" {
		return errors.New("no Content-Type")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if mt == "text/plain" && (err == nil || errors.Is(err, mime.ErrInvalidMediaParameter)) {
		return nil
	}
	return fmt.Errorf("Content-Type %q is not text/plain", ct)
}

// classify sorts a transport error into a FetchKind.
func classify(ctx context.Context, err error) FetchKind {
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		dnsErr   *DNSError
		opErr    *net.OpError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		return FetchCertificate
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return FetchTimeout
	case errors.As(err, &dnsErr):
		return FetchDNS
	case errors.As(err, &recErr), errors.As(err, &alertErr):
		return FetchTLS
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return FetchConnect
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return FetchTimeout
	}
	// crypto/tls reports most handshake failures (a refused protocol
	// version, a malformed message) as untyped errors.
	if strings.Contains(err.Error(), "tls: ") {
		return FetchTLS
	}
	return FetchHTTP
}

// unwrapURLError drops net/http's *url.Error wrapper, which repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

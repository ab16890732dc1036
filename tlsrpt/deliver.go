package tlsrpt

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
)

// Media types of RFC 8460 section 6.
const (
	MediaTypeGzip = "application/tlsrpt+gzip"
	MediaTypeJSON = "application/tlsrpt+json"
)

// Defaults of [SenderOptions].
const (
	DefaultTimeout      = 60 * time.Second
	DefaultMaxAttempts  = 10 // with DefaultBackoff doubling, the last near 21 h: RFC 8460 section 5.5's 24 hours
	DefaultBackoff      = 5 * time.Minute
	DefaultMaxRetryTime = 24 * time.Hour // RFC 8460 section 5.5
)

// maxResponse bounds what is read of an HTTPS endpoint's answer.
const maxResponse = 64 << 10

// ErrNotDelivered is wrapped by a [*DeliveryError].
var ErrNotDelivered = errors.New("report not delivered")

// SenderOptions configure a [Sender]. Every field is optional, but a
// report can go to mailto destinations only with Mail set.
type SenderOptions struct {
	// Mail submits a report message, built by Message (and signed by
	// Sign), to the mail system: from is the envelope sender, to the
	// recipients. A nil error means the message was accepted. The function
	// must deliver despite any TLS failure, ignoring MTA-STS and DANE
	// (RFC 8460 sections 3 and 5.3), and should not record the session in
	// the next report. Nil: mailto destinations fail.
	Mail func(ctx context.Context, from string, to []string, msg []byte) error
	// Sign DKIM-signs a message before it goes to Mail. RFC 8460 section 3
	// requires a DKIM signature by the reporting domain, without "l=",
	// covering the TLS-Report-Domain and TLS-Report-Submitter headers:
	// [DKIM.Sign] does that (a Reporter sets it). Nil: unsigned.
	Sign func(msg []byte) ([]byte, error)
	// From is the address reports are mailed from. Default: the report's
	// contact-info.
	From string
	// UniqueID, letters and digits, goes into file names (RFC 8460
	// section 5.1). Optional.
	UniqueID string

	// DNS are the name servers ("host:port") through which the hosts of
	// https destinations are resolved. Default: the system's resolver.
	DNS []string
	// RootCAs are the roots trusted for https destinations. Default: the
	// system pool.
	RootCAs *x509.CertPool
	// InsecureSkipVerify posts to endpoints whose certificate does not
	// validate, which RFC 8460 section 3 allows. Default false.
	InsecureSkipVerify bool
	// HTTPSPort, if not 0, replaces the port of every https destination.
	// For tests.
	HTTPSPort int
	// Timeout bounds one attempt at one destination. Default
	// DefaultTimeout.
	Timeout time.Duration

	// MaxAttempts bounds the attempts per report. Default
	// DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the wait before the second attempt; it doubles after each
	// failed attempt. Default DefaultBackoff.
	Backoff time.Duration
	// MaxRetryTime is how long after the first attempt retries may start.
	// Default DefaultMaxRetryTime.
	MaxRetryTime time.Duration
	// Clock gives the Date of report messages and the retry deadline.
	// Default time.Now.
	Clock func() time.Time
}

// Sender delivers reports to the destinations of a TLS-RPT record, by
// HTTPS POST and by mail (RFC 8460 section 5). It is safe for concurrent
// use.
type Sender struct {
	opts   SenderOptions
	client *http.Client
}

// NewSender returns a sender. It starts no goroutine.
func NewSender(opts SenderOptions) *Sender {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxRetryTime <= 0 {
		opts.MaxRetryTime = DefaultMaxRetryTime
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	s := &Sender{opts: opts}
	dialer := &net.Dialer{Timeout: opts.Timeout}
	var dns *dnsclient.Client
	if len(opts.DNS) > 0 {
		dns = dnsclient.New(opts.DNS, 0)
	}
	port := ""
	if opts.HTTPSPort != 0 {
		port = strconv.Itoa(opts.HTTPSPort)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if port != "" {
			p = port
		}
		if _, err := netip.ParseAddr(host); err == nil || dns == nil {
			return dialer.DialContext(ctx, network, net.JoinHostPort(host, p))
		}
		addrs, err := dns.AllAddrs(ctx, host)
		if err != nil {
			return nil, err
		}
		last := error(&net.DNSError{Err: "no addresses", Name: host, IsNotFound: true})
		for i, a := range addrs {
			// Share the time among the addresses left, as net.Dialer does,
			// so that one that drops packets cannot use it all.
			d := *dialer
			d.Timeout = opts.Timeout / time.Duration(len(addrs)-i)
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), p))
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
	s.client = &http.Client{
		Transport: &http.Transport{
			DialContext: dial,
			TLSClientConfig: &tls.Config{
				RootCAs:            opts.RootCAs,
				MinVersion:         tls.VersionTLS12,
				InsecureSkipVerify: opts.InsecureSkipVerify,
			},
			// Reports go out once a day: no idle connection (and no
			// goroutine) outlives a delivery.
			DisableKeepAlives:     true,
			TLSHandshakeTimeout:   opts.Timeout,
			ResponseHeaderTimeout: opts.Timeout,
		},
		// A redirect is not a delivery (RFC 8460 is silent; a POST body
		// is not replayed to where a 3xx points).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       opts.Timeout,
	}
	return s
}

// DeliveryError reports a report that no destination accepted, after
// every attempt: Errs has the last error of each destination. Permanent
// is true when every destination failed permanently (see ErrPermanent):
// then Deliver stopped at once, and errors.Is(err, ErrPermanent) holds.
type DeliveryError struct {
	Attempts  int              // how many rounds of attempts were made
	Errs      map[string]error // by rua URI
	Permanent bool             // every destination failed permanently
}

// Error summarises the failures.
func (e *DeliveryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tlsrpt: %v after %d attempts", ErrNotDelivered, e.Attempts)
	if e.Permanent {
		b.WriteString(" (permanent)")
	}
	for _, uri := range slices.Sorted(maps.Keys(e.Errs)) {
		fmt.Fprintf(&b, "; %s: %v", uri, e.Errs[uri])
	}
	return b.String()
}

// Unwrap returns ErrNotDelivered, and ErrPermanent if Permanent.
func (e *DeliveryError) Unwrap() []error {
	if e.Permanent {
		return []error{ErrNotDelivered, ErrPermanent}
	}
	return []error{ErrNotDelivered}
}

// Deliver sends rep, gzipped, to every destination of rec, and returns
// nil as soon as an attempt has had at least one accepted (a 2xx answer
// to the POST, a nil error from Mail): RFC 8460 section 3 counts a report
// delivered once one endpoint accepts it. Otherwise it tries again, the
// destinations that failed, after Backoff, doubling each time, for at most
// MaxAttempts attempts and MaxRetryTime, or until ctx is done. It then
// returns a [*DeliveryError], or ctx's error.
//
// Deliver blocks for as long as it retries: run it in a goroutine of
// the caller's, and keep the report (the Recorder's counts) until it
// returns nil or the caller gives up.
func (s *Sender) Deliver(ctx context.Context, rep *Report, rec Record) error {
	if err := rep.Validate(); err != nil {
		return err
	}
	if len(rec.RUA) == 0 {
		return fmt.Errorf("tlsrpt: %w: no destination", ErrNotDelivered)
	}
	body, err := rep.Gzip()
	if err != nil {
		return err
	}
	pending := append([]string(nil), rec.RUA...)
	errs := make(map[string]error, len(pending))
	deadline := s.opts.Clock().Add(s.opts.MaxRetryTime)
	wait := s.opts.Backoff
	attempt := 0
	for attempt < s.opts.MaxAttempts {
		attempt++
		var accepted bool
		if accepted, pending = s.try(ctx, rep, body, pending, errs); accepted {
			return nil
		}
		if len(pending) == 0 {
			return &DeliveryError{Attempts: attempt, Errs: errs, Permanent: true}
		}
		if attempt == s.opts.MaxAttempts || !s.opts.Clock().Add(wait).Before(deadline) {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
	return &DeliveryError{Attempts: attempt, Errs: errs}
}

// try makes one attempt at each of uris, and reports whether one accepted
// the report; if none did, it returns those worth another attempt, and
// sets errs[uri] to each failure.
func (s *Sender) try(ctx context.Context, rep *Report, body []byte, uris []string, errs map[string]error) (bool, []string) {
	next := make([]string, 0, len(uris))
	for _, uri := range uris {
		switch err := s.deliverOne(ctx, rep, body, uri); {
		case err == nil:
			return true, nil
		case isPermanent(err):
			errs[uri] = err // not tried again
		default:
			errs[uri] = err
			next = append(next, uri)
		}
	}
	return false, next
}

func (s *Sender) deliverOne(ctx context.Context, rep *Report, body []byte, uri string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	colon := strings.IndexByte(uri, ':')
	if colon < 0 {
		return fmt.Errorf("tlsrpt: %w: %q", ErrBadURI, uri)
	}
	switch strings.ToLower(uri[:colon]) {
	case "https":
		return s.post(ctx, uri, body)
	case "mailto":
		to, err := mailtoAddress(uri)
		if err != nil {
			return err
		}
		return s.mail(ctx, rep, body, to)
	}
	return fmt.Errorf("tlsrpt: %w: unsupported scheme in %q", ErrBadURI, uri)
}

func (s *Sender) post(ctx context.Context, uri string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", MediaTypeGzip)
	req.Header.Set("User-Agent", "mtasts-go (+https://github.com/mtasts-go/mtasts)")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &HTTPError{URI: uri, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	return nil
}

func (s *Sender) mail(ctx context.Context, rep *Report, body []byte, to string) error {
	if s.opts.Mail == nil {
		return fmt.Errorf("tlsrpt: %s: %w", to, errNoMail)
	}
	from := s.opts.From
	if from == "" {
		from = rep.ContactInfo
	}
	msg, err := message(rep, body, from, to, s.opts.Clock(), s.opts.UniqueID)
	if err != nil {
		return err
	}
	if s.opts.Sign != nil {
		if msg, err = s.opts.Sign(msg); err != nil {
			return fmt.Errorf("tlsrpt: signing: %w", err)
		}
	}
	return s.opts.Mail(ctx, from, []string{to}, msg)
}

// mailtoAddress returns the address of a mailto URI: the part before any
// "?" or "#", percent-decoded, which must be one ASCII local@domain address:
// see isLocalPart, and a domain name. The error wraps ErrUnusableURI.
func mailtoAddress(uri string) (string, error) {
	addr := uri[len("mailto:"):]
	if i := strings.IndexAny(addr, "?#"); i >= 0 {
		addr = addr[:i]
	}
	addr, err := url.PathUnescape(addr)
	at := strings.LastIndexByte(addr, '@')
	switch {
	case err != nil || at <= 0 || at == len(addr)-1:
		return "", fmt.Errorf("tlsrpt: %w: %q: not local@domain", ErrUnusableURI, uri)
	case !isLocalPart(addr[:at]):
		return "", fmt.Errorf("tlsrpt: %w: %q: not one address with an ASCII local part", ErrUnusableURI, uri)
	}
	if _, ok := canonDomain(addr[at+1:]); !ok {
		return "", fmt.Errorf("tlsrpt: %w: %q: the domain is not a host name", ErrUnusableURI, uri)
	}
	return addr, nil
}

// isLocalPart reports whether s can be the local part of a report address:
// printable ASCII without space, "@", "<", ">", a quote or a backslash, and
// not empty. That keeps what percent-decoding may give legitimately (such as
// "a,b") and refuses what would break the address in a
// header or in RCPT TO (a NUL, a space, a second "@").
func isLocalPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("@<>\"\\", c) >= 0 {
			return false
		}
	}
	return true
}

// Message returns the mail message of RFC 8460 section 5.3 that carries
// rep to the address to: headers From (from), To, Date (date), the
// Subject of section 5.3, TLS-Report-Domain and TLS-Report-Submitter, and a
// multipart/report body (report-type "tlsrpt") of a short text and the
// gzipped report as an application/tlsrpt+gzip attachment named per section
// 5.1 (with unique, if not empty). The message is not signed: see
// SenderOptions.Sign.
func Message(rep *Report, from, to string, date time.Time, unique string) ([]byte, error) {
	if err := rep.Validate(); err != nil {
		return nil, err
	}
	body, err := rep.Gzip()
	if err != nil {
		return nil, err
	}
	return message(rep, body, from, to, date, unique)
}

func message(rep *Report, gz []byte, from, to string, date time.Time, unique string) ([]byte, error) {
	for _, a := range []string{from, to} {
		if strings.ContainsAny(a, "\r\n<>") || !isASCIIString(a) {
			return nil, fmt.Errorf("tlsrpt: %w: address %q", ErrBadReport, a)
		}
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	domain, submitter := rep.Domain(), rep.Submitter()
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", "<"+from+">")
	h("To", "<"+to+">")
	h("Date", date.Format(time.RFC1123Z))
	// Folded at the FWS of the ABNF, so that long names stay within the
	// line length limits.
	h("Subject", "Report Domain: "+domain+"\r\n Submitter: "+submitter+"\r\n Report-ID: <"+rep.ReportID+">")
	h("TLS-Report-Domain", domain)
	h("TLS-Report-Submitter", submitter)
	h("Message-ID", "<"+rep.ReportID+">")
	h("MIME-Version", "1.0")
	// RFC 8689: deliver despite any TLS policy, as RFC 8460 section 3
	// requires of report mail.
	h("TLS-Required", "No")
	h("Content-Type", `multipart/report; report-type="tlsrpt";`+"\r\n"+` boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\nThis is a multipart message in MIME format.\r\n")

	text, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/plain; charset="us-ascii"`},
		"Content-Transfer-Encoding": {"7bit"},
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(text, "This is an aggregate TLS report from %s for %s,\r\ncovering %s to %s.\r\n",
		submitter, domain, rep.DateRange.Start.UTC().Format(time.RFC3339), rep.DateRange.End.UTC().Format(time.RFC3339))

	att, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {MediaTypeGzip},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {`attachment;` + "\r\n" + ` filename="` + rep.Filename(unique, true) + `"`},
	})
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		io.WriteString(att, enc[:76]+"\r\n")
		enc = enc[76:]
	}
	io.WriteString(att, enc+"\r\n")
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

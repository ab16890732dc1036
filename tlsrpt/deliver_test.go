package tlsrpt

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/reporttest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// mailbox is a Mail function that records what it is given and fails
// its first fail calls.
type mailbox struct {
	mu   sync.Mutex
	fail int
	msgs []sentMail
}

type sentMail struct {
	from string
	to   []string
	msg  []byte
}

func (m *mailbox) send(_ context.Context, from string, to []string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, sentMail{from, to, msg})
	if len(m.msgs) <= m.fail {
		return errors.New("451 try again later")
	}
	return nil
}

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

func senderFor(w *testserver.World, mb *mailbox) *Sender {
	return NewSender(SenderOptions{
		DNS:         []string{w.DNSAddr()},
		RootCAs:     w.RootCAs(),
		HTTPSPort:   w.HTTPSPort(),
		Timeout:     2 * time.Second,
		Mail:        mb.send,
		MaxAttempts: 3,
		Backoff:     10 * time.Millisecond,
		Clock:       func() time.Time { return time.Date(2016, 4, 2, 3, 4, 5, 0, time.UTC) },
	})
}

// lookupWorld publishes record for company-y.example in the world and
// looks it up through the world's DNS.
func lookupWorld(t *testing.T, w *testserver.World, record string) Record {
	t.Helper()
	w.SetTLSRPT("company-y.example", record)
	w.SetAddrs("reports.company-y.example", w.IP())
	w.SetAddrs("broken.company-y.example", w.IP())
	rec, err := Lookup(context.Background(), dnsclient.New([]string{w.DNSAddr()}, time.Second), "company-y.example")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestDeliverHTTPS(t *testing.T) {
	w := testserver.Start(t)
	rec := lookupWorld(t, w, "v=TLSRPTv1; rua=https://reports.company-y.example/v1/tlsrpt")
	rep := sampleReport()
	if err := senderFor(w, &mailbox{}).Deliver(context.Background(), rep, rec); err != nil {
		t.Fatal(err)
	}
	posts := w.Posts("reports.company-y.example")
	if len(posts) != 1 {
		t.Fatalf("%d posts", len(posts))
	}
	p := posts[0]
	if p.Path != "/v1/tlsrpt" || p.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
		t.Errorf("post %s %v", p.Path, p.Header)
	}
	got := reporttest.Gunzip(t, p.Body)
	want, _ := rep.JSON()
	if !bytes.Equal(got, want) {
		t.Errorf("posted %s", got)
	}
}

// TestDeliverFallback: the first destination fails, the second accepts;
// the report is delivered in one attempt (T62.1).
func TestDeliverFallback(t *testing.T) {
	w := testserver.Start(t)
	rec := lookupWorld(t, w, "v=TLSRPTv1; rua=https://broken.company-y.example/r,mailto:tlsrpt@company-y.example")
	w.Fault("broken.company-y.example", testserver.Status(500))
	mb := &mailbox{}
	if err := senderFor(w, mb).Deliver(context.Background(), sampleReport(), rec); err != nil {
		t.Fatal(err)
	}
	if n := len(w.Posts("broken.company-y.example")); n != 1 || mb.count() != 1 {
		t.Errorf("%d posts, %d mails", n, mb.count())
	}
}

// TestDeliverRetry: every destination fails; each is tried MaxAttempts
// times, then Deliver gives up (T62.2, T84.1). Redirects and 3xx are
// failures (T83.3).
func TestDeliverRetry(t *testing.T) {
	w := testserver.Start(t)
	rec := lookupWorld(t, w, "v=TLSRPTv1; rua=https://broken.company-y.example/r,https://reports.company-y.example/r")
	w.Fault("broken.company-y.example", testserver.Status(503))
	w.Fault("reports.company-y.example", testserver.Redirect{Code: 307, Location: "https://broken.company-y.example/r"})
	err := senderFor(w, &mailbox{}).Deliver(context.Background(), sampleReport(), rec)
	var de *DeliveryError
	if !errors.As(err, &de) || !errors.Is(err, ErrNotDelivered) || de.Attempts != 3 || len(de.Errs) != 2 {
		t.Fatalf("got %v", err)
	}
	if a, b := len(w.Posts("broken.company-y.example")), len(w.Posts("reports.company-y.example")); a != 3 || b != 3 {
		t.Errorf("posts %d, %d", a, b)
	}
}

func TestDeliverMailRetry(t *testing.T) {
	w := testserver.Start(t)
	rec := lookupWorld(t, w, "v=TLSRPTv1; rua=mailto:tlsrpt@company-y.example")
	mb := &mailbox{fail: 2}
	if err := senderFor(w, mb).Deliver(context.Background(), sampleReport(), rec); err != nil {
		t.Fatal(err)
	}
	if mb.count() != 3 {
		t.Errorf("%d mails", mb.count())
	}
	// A cancelled context stops the retries.
	mb = &mailbox{fail: 100}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := senderFor(w, mb).Deliver(ctx, sampleReport(), rec); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrNotDelivered) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestDeliverRetryTime: the retry deadline stops before MaxAttempts.
func TestDeliverRetryTime(t *testing.T) {
	mb := &mailbox{fail: 100}
	// A clock that stands still: the deadline decides by the waits alone.
	now := time.Date(2016, 4, 2, 0, 0, 0, 0, time.UTC)
	s := NewSender(SenderOptions{Mail: mb.send, MaxAttempts: 10, Backoff: 10 * time.Millisecond, MaxRetryTime: 35 * time.Millisecond,
		Clock: func() time.Time { return now }})
	err := s.Deliver(context.Background(), sampleReport(), Record{RUA: []string{"mailto:a@example.com"}})
	var de *DeliveryError
	// Waits of 10 and 20 ms end before the deadline, one of 40 ms would not.
	if !errors.As(err, &de) || de.Attempts != 3 {
		t.Errorf("got %v", err)
	}
}

// TestMessage parses the mail message of a report (T78.1, T79.1, T81.1).
func TestMessage(t *testing.T) {
	mb := &mailbox{}
	signed := false
	s := NewSender(SenderOptions{Mail: mb.send, UniqueID: "001",
		Sign: func(m []byte) ([]byte, error) {
			signed = true
			return append([]byte("DKIM-Signature: v=1; test\r\n"), m...), nil
		},
		Clock: func() time.Time { return time.Date(2016, 4, 2, 3, 4, 5, 0, time.UTC) }})
	rep := sampleReport()
	if err := s.Deliver(context.Background(), rep, Record{RUA: []string{"mailto:tls%2Brpt@company-y.example?subject=x"}}); err != nil {
		t.Fatal(err)
	}
	sent := mb.msgs[0]
	if !signed || sent.from != "tlsrpt@mail.company-x.example" || len(sent.to) != 1 || sent.to[0] != "tls+rpt@company-y.example" {
		t.Fatalf("sent %q to %q, signed %v", sent.from, sent.to, signed)
	}
	m, err := mail.ReadMessage(bytes.NewReader(sent.msg))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"DKIM-Signature":       "v=1; test",
		"Subject":              "Report Domain: company-y.example Submitter: mail.company-x.example Report-ID: <2016-04-01.company-y.example@mail.company-x.example>",
		"TLS-Report-Domain":    "company-y.example",
		"TLS-Report-Submitter": "mail.company-x.example",
		"To":                   "<tls+rpt@company-y.example>",
		"Date":                 "Sat, 02 Apr 2016 03:04:05 +0000",
	} {
		// Unfold as RFC 5322 section 2.2.3 says.
		if got := strings.ReplaceAll(m.Header.Get(k), "\r\n", ""); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("content type %q %v %v", mt, params, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	text, err := mr.NextPart()
	if err != nil || !strings.HasPrefix(text.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("first part %v %v", text, err)
	}
	att, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if att.Header.Get("Content-Type") != "application/tlsrpt+gzip" || att.Header.Get("Content-Transfer-Encoding") != "base64" {
		t.Errorf("attachment header %v", att.Header)
	}
	_, dp, err := mime.ParseMediaType(att.Header.Get("Content-Disposition"))
	if want := rep.Filename("001", true); err != nil || dp["filename"] != want {
		t.Errorf("filename %q, want %q (%v)", dp["filename"], want, err)
	}
	raw, _ := io.ReadAll(att) // multipart.Part does not decode base64 itself
	gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	got := reporttest.Gunzip(t, gz)
	want, _ := rep.JSON()
	if !bytes.Equal(got, want) {
		t.Errorf("attachment holds %s", got)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more parts: %v", err)
	}
}

func TestDeliverBad(t *testing.T) {
	s := NewSender(SenderOptions{MaxAttempts: 1})
	rep := sampleReport()
	for name, rua := range map[string]string{
		"no_mail_func":  "mailto:a@example.com",
		"mailto_ulabel": "mailto:a@b%C3%BCcher.example",
		"mailto_crlf":   "mailto:a%0D%0A@example.com",
		"scheme":        "ftp://example.com/",
	} {
		if err := s.Deliver(context.Background(), rep, Record{RUA: []string{rua}}); !errors.Is(err, ErrNotDelivered) {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := sampleReport()
	bad.ReportID = "x"
	if err := s.Deliver(context.Background(), bad, Record{RUA: []string{"mailto:a@example.com"}}); !errors.Is(err, ErrBadReport) {
		t.Errorf("bad report: %v", err)
	}
	if err := s.Deliver(context.Background(), rep, Record{}); !errors.Is(err, ErrNotDelivered) {
		t.Errorf("no rua: %v", err)
	}
}

package tlsrpt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/testclock"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/validate"
)

// reporterWorld is a loopback world with two report destinations: an
// HTTPS endpoint for https.example and a mailbox for mail.example, reached
// through the submission server submit.example.
type reporterWorld struct {
	w      *testserver.World
	clk    *testclock.Clock
	key    ed25519.PrivateKey
	events chan DeliveryEvent
}

func newReporterWorld(t *testing.T) *reporterWorld {
	w := testserver.Start(t)
	w.SetTLSRPT("https.example", "v=TLSRPTv1; rua=https://reports.https.example/v1")
	w.SetAddrs("reports.https.example", w.IP())
	w.SetTLSRPT("mail.example", "v=TLSRPTv1; rua=mailto:tlsrpt@mail.example")
	if _, err := w.AddSMTPHost("submit.example"); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	return &reporterWorld{w: w, clk: testclock.New(time.Date(2016, 4, 1, 10, 0, 0, 0, time.UTC)), key: key,
		events: make(chan DeliveryEvent, 100)}
}

func (rw *reporterWorld) options(dir string) ReporterOptions {
	return ReporterOptions{
		OrganizationName: "Company-X",
		ContactInfo:      "tlsrpt@mail.company-x.example",
		NodeID:           "node1",
		Dir:              dir,
		DNS:              dnsclient.New([]string{rw.w.DNSAddr()}, time.Second),
		Submit: SubmitSMTP(SubmitOptions{Addr: rw.w.SMTPAddr("submit.example"),
			TLSConfig: &tls.Config{RootCAs: rw.w.RootCAs(), ServerName: "submit.example"}, Timeout: 5 * time.Second}),
		DKIM:     &DKIM{Domain: "mail.company-x.example", Selector: "tlsrpt", Signer: rw.key},
		Delivery: SenderOptions{DNS: []string{rw.w.DNSAddr()}, RootCAs: rw.w.RootCAs(), HTTPSPort: rw.w.HTTPSPort(), Timeout: 5 * time.Second},
		Clock:    rw.clk,
		MaxDelay: 2 * time.Hour,
		Random:   func(time.Duration) time.Duration { return time.Hour },
		OnDelivery: func(e DeliveryEvent) {
			rw.events <- e
		},
	}
}

// event waits, for at most 20 s, for the next delivery event.
func (rw *reporterWorld) event(t *testing.T) DeliveryEvent {
	t.Helper()
	select {
	case e := <-rw.events:
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery event after 20 s")
	}
	return DeliveryEvent{}
}

// keyRecord is the DKIM key record of rw's key with service types s.
func (rw *reporterWorld) keyRecord(s string) string {
	return "v=DKIM1; k=ed25519; s=" + s + "; p=" + base64.StdEncoding.EncodeToString(rw.key.Public().(ed25519.PublicKey))
}

func verifyDKIM(msg []byte, record string) error {
	v, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(string) ([]string, error) { return []string{record}, nil },
	})
	if err != nil {
		return err
	}
	if len(v) != 1 {
		return errors.New("not one signature")
	}
	return v[0].Err
}

func TestReporterDailyCycle(t *testing.T) {
	rw := newReporterWorld(t)
	rep, err := NewReporter(rw.options(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	for _, d := range []string{"https.example", "mail.example"} {
		for range 3 {
			rep.Record(Result{Domain: d, ReceivingMX: "mx." + d})
		}
		rep.Record(Result{Domain: d, ResultType: validate.ResultStartTLSNotSupported, ReceivingMX: "mx." + d,
			ReceivingIP: netip.MustParseAddr("192.0.2.1")})
	}
	// The delivery of a report is not counted (RFC 8460 section 3).
	rep.Record(Result{Domain: "mail.example", MailFrom: "TLSRPT@mail.company-x.example"})
	if s := rep.Stats(); s.ReportSessions != 1 {
		t.Errorf("stats %+v", s)
	}

	// Midnight passes; the reports wait for their delay (1 h here).
	rw.clk.WaitTimers(t, 1)
	rw.clk.Advance(14*time.Hour + 30*time.Minute)
	rw.clk.WaitTimers(t, 1)
	if n := len(rw.w.Posts("reports.https.example")); n != 0 {
		t.Fatalf("%d posts before the delay", n)
	}
	rw.clk.Advance(30 * time.Minute)
	got := map[string]bool{}
	for range 2 {
		e := rw.event(t)
		if e.Err != nil || !e.Final {
			t.Errorf("%s: %v", e.Domain, e.Err)
		}
		got[e.Domain] = true
	}
	if !got["https.example"] || !got["mail.example"] {
		t.Errorf("delivered %v", got)
	}
	posts := rw.w.Posts("reports.https.example")
	if len(posts) != 1 || posts[0].Header.Get("Content-Type") != MediaTypeGzip {
		t.Fatalf("posts %+v", posts)
	}
	msgs := rw.w.Messages("submit.example")
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].To[0] != "tlsrpt@mail.example" || msgs[0].From != "tlsrpt@mail.company-x.example" {
		t.Fatalf("messages %+v", msgs)
	}
	data := msgs[0].Data
	for _, h := range []string{"TLS-Required: No\r\n", "TLS-Report-Domain: mail.example\r\n", "Report-ID: <2016-04-01.mail.example.node1@mail.company-x.example>"} {
		if !bytes.Contains(data, []byte(h)) {
			t.Errorf("no %q in the message", h)
		}
	}
	if err := verifyDKIM(data, rw.keyRecord("email:tlsrpt")); err != nil {
		t.Errorf("DKIM with s=email:tlsrpt: %v", err)
	}
	sig := string(data[:bytes.Index(data, []byte("\r\nFrom:"))])
	for _, h := range []string{"tls-report-domain", "tls-report-submitter", "content-type", "message-id", "subject", "date", "from"} {
		if !strings.Contains(strings.ToLower(sig), h) {
			t.Errorf("%s not signed: %s", h, sig)
		}
	}
	if strings.Contains(sig, " l=") || strings.Contains(sig, ";l=") {
		t.Errorf("l= in %s", sig)
	}
	// The pitfall the DKIM doc comment warns about.
	if err := verifyDKIM(data, rw.keyRecord("tlsrpt")); err == nil {
		t.Error("go-msgauth now accepts a key record of s=tlsrpt alone: update the DKIM doc comment")
	}
	if s := rep.Stats(); s.Delivered != 2 || len(rep.Recorder().Days()) != 0 {
		t.Errorf("stats %+v, days %v", s, rep.Recorder().Days())
	}
}

func TestReporterRetries(t *testing.T) {
	rw := newReporterWorld(t)
	rw.w.Fault("reports.https.example", testserver.Status(503))
	rep, err := NewReporter(rw.options(""))
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	rep.Record(Result{Domain: "https.example"})
	rw.clk.WaitTimers(t, 1)
	rw.clk.Advance(15 * time.Hour)
	if e := rw.event(t); e.Err == nil || e.Final {
		t.Fatalf("first attempt: %+v", e)
	}
	// Backoff: 5 min, then 10.
	rw.clk.WaitTimers(t, 1)
	rw.clk.Advance(5 * time.Minute)
	if e := rw.event(t); e.Err == nil || e.Final {
		t.Fatalf("second attempt: %+v", e)
	}
	rw.w.ClearFaults()
	rw.clk.WaitTimers(t, 1)
	rw.clk.Advance(9 * time.Minute)
	select {
	case e := <-rw.events:
		t.Fatalf("attempt before the backoff: %+v", e)
	case <-time.After(50 * time.Millisecond):
	}
	rw.clk.Advance(time.Minute)
	if e := rw.event(t); e.Err != nil || !e.Final {
		t.Fatalf("third attempt: %+v", e)
	}
	if n := len(rw.w.Posts("reports.https.example")); n != 3 {
		t.Errorf("%d posts", n)
	}
}

func TestReporterPermanentFailure(t *testing.T) {
	rw := newReporterWorld(t)
	rw.w.Fault("reports.https.example", testserver.Status(404))
	rw.w.SetTLSRPT("none.example", "v=TLSRPTv1; rua=mailto:a@[192.0.2.1]")
	rep, err := NewReporter(rw.options(""))
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	rep.Record(Result{Domain: "https.example"})
	rep.Record(Result{Domain: "none.example"})
	rep.Record(Result{Domain: "norecord.example"})
	rw.clk.WaitTimers(t, 1)
	rw.clk.Advance(15 * time.Hour)
	// The domains without a usable record are dropped as soon as their
	// lookup answers (Recorder.NoRecord counts their sessions), or else
	// when their report would go (NoRecord counts the reports); a domain
	// may show in both when the two race.
	for e := rw.event(t); e.Domain != "https.example"; e = rw.event(t) {
		if !e.Final || !isNoRecord(e.Err) {
			t.Errorf("%s: %+v", e.Domain, e)
		}
	}
	if s := rep.Stats(); s.GaveUp != 1 || s.NoRecord+s.Recorder.NoRecord < 2 || len(rep.Recorder().Days()) != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestReporterRefusesUnsignedMail(t *testing.T) {
	rw := newReporterWorld(t)
	o := rw.options("")
	o.DKIM = nil
	if _, err := NewReporter(o); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("got %v", err)
	}
	o.SendUnsignedMail = true
	rep, err := NewReporter(o)
	if err != nil {
		t.Fatal(err)
	}
	rep.Close()
}

// TestReporterRestart: counts survive a Close and a new start, and a
// second restore of the same state adds nothing.
func TestReporterRestart(t *testing.T) {
	rw := newReporterWorld(t)
	dir := t.TempDir()
	for round := range 3 {
		rep, err := NewReporter(rw.options(dir))
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if err := rep.Record(Result{Domain: "https.example"}); err != nil {
				t.Fatal(err)
			}
		}
		if n := successes(rep.Recorder()); n != uint64(5*(round+1)) {
			t.Errorf("round %d: %d successes", round, n)
		}
		snap, _ := rep.Recorder().Snapshot()
		other := NewRecorder(Options{})
		other.Restore(snap)
		other.Restore(snap) // idempotent
		if n := successes(other); n != uint64(5*(round+1)) {
			t.Errorf("round %d: %d successes after restoring a snapshot twice", round, n)
		}
		if err := rep.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// successes sums the successful sessions of every entry of rec.
func successes(rec *Recorder) uint64 {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var n uint64
	for _, c := range rec.policies {
		n += c.success
	}
	return n
}

func TestSubmitSMTP(t *testing.T) {
	w := testserver.Start(t)
	w.AddSMTPHost("submit.example")
	submit := SubmitSMTP(SubmitOptions{Addr: w.SMTPAddr("submit.example"), TLSConfig: &tls.Config{RootCAs: w.RootCAs()}, Timeout: 5 * time.Second})
	// The server's certificate is for submit.example, not the address.
	if err := submit(context.Background(), "a@x.example", []string{"b@y.example"}, []byte("Subject: x\r\n\r\nhi\r\n")); err == nil {
		t.Error("certificate for another name accepted")
	}
	submit = SubmitSMTP(SubmitOptions{Addr: w.SMTPAddr("submit.example"), TLSConfig: &tls.Config{RootCAs: w.RootCAs(), ServerName: "submit.example"}})
	if err := submit(context.Background(), "a@x.example", []string{"b@y.example"}, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if m := w.Messages("submit.example"); len(m) != 1 || !m[0].TLS || string(m[0].Data) != "Subject: x\r\n\r\nhi\r\n" {
		t.Errorf("messages %+v", m)
	}
	auth := SubmitSMTP(SubmitOptions{Addr: w.SMTPAddr("submit.example"), TLSConfig: &tls.Config{RootCAs: w.RootCAs(), ServerName: "submit.example"},
		Username: "reporter", Password: "secret"})
	if err := auth(context.Background(), "a@x.example", []string{"b@y.example"}, []byte("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if m := w.Messages("submit.example"); len(m) != 2 || m[1].AuthUser != "reporter" {
		t.Errorf("AUTH: messages %+v", m)
	}
	w.Fault("submit.example", testserver.NoSTARTTLS)
	if err := submit(context.Background(), "a@x.example", []string{"b@y.example"}, []byte("x\r\n")); err == nil {
		t.Error("sent without STARTTLS")
	}
	plain := SubmitSMTP(SubmitOptions{Addr: w.SMTPAddr("submit.example"), TLS: "none", Username: "u", Password: "p"})
	if err := plain(context.Background(), "a@x.example", []string{"b@y.example"}, []byte("x\r\n")); !errors.Is(err, ErrPermanent) {
		t.Errorf("AUTH over plain text: %v", err)
	}
}

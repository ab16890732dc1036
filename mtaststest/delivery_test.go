package mtaststest_test

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/mtaststest"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/tlsrpt"
	"github.com/mtasts-go/mtasts/validate"
)

// TestLookupMX checks that the MX records and addresses the world
// publishes are seen through LookupMX and NetResolver, and nothing else.
func TestLookupMX(t *testing.T) {
	w := mtaststest.NewWorld(t)
	w.AddDomain("example.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx1.example.test", "mx2.example.test"}, MaxAge: 3600})
	ctx := ctxFor(t)

	mxs, err := w.LookupMX(ctx, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mx := range mxs {
		got = append(got, mx.Host+" "+strconv.Itoa(int(mx.Pref)))
	}
	if want := []string{"mx1.example.test 10", "mx2.example.test 20"}; !slices.Equal(got, want) {
		t.Errorf("LookupMX = %q, want %q", got, want)
	}
	w.SetMX("example.test", "mx2.example.test", "mx1.example.test")
	if mxs, err := w.LookupMX(ctx, "example.test"); err != nil || mxs[0].Host != "mx2.example.test" {
		t.Errorf("after SetMX: LookupMX = %v, %v", mxs, err)
	}

	addrs, err := w.NetResolver().LookupHost(ctx, "mx1.example.test")
	if err != nil || len(addrs) != 1 || !net.ParseIP(addrs[0]).IsLoopback() {
		t.Errorf("LookupHost(mx1) = %v, %v; want one loopback address", addrs, err)
	}
	_, err = w.LookupMX(ctx, "nowhere.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("LookupMX(nowhere.test) = %v, want a not-found *net.DNSError", err)
	}
	w.Fault("example.test", mtaststest.ServFail)
	if _, err := w.LookupMX(ctx, "example.test"); !errors.As(err, &de) || de.IsNotFound {
		t.Errorf("LookupMX under SERVFAIL = %v, want a temporary *net.DNSError", err)
	}
}

// TestCA checks that the world's authority, as a pool and as a PEM file,
// verifies the certificates the world presents.
func TestCA(t *testing.T) {
	w := mtaststest.NewWorld(t)
	w.AddDomain("example.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx1.example.test"}, MaxAge: 3600})
	path := w.CAFile()
	if again := w.CAFile(); again != path {
		t.Errorf("CAFile changed: %s, then %s", path, again)
	}
	pem, err := os.ReadFile(path)
	if err != nil || string(pem) != string(w.CAPEM()) {
		t.Fatalf("CA file: %v; content equal to CAPEM: %v", err, string(pem) == string(w.CAPEM()))
	}
	fromFile := x509.NewCertPool()
	if !fromFile.AppendCertsFromPEM(pem) {
		t.Fatal("the CA file holds no certificate")
	}
	for name, pool := range map[string]*x509.CertPool{"RootCAs": w.RootCAs(), "CAFile": fromFile} {
		d := tls.Dialer{Config: &tls.Config{ServerName: "mta-sts.example.test", RootCAs: pool}}
		conn, err := d.DialContext(ctxFor(t), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(w.HTTPSPort())))
		if err != nil {
			t.Errorf("%s: handshake with the policy host: %v", name, err)
			continue
		}
		conn.Close()
	}

	// A world made by New removes its file when it closes.
	w2, err := mtaststest.New()
	if err != nil {
		t.Fatal(err)
	}
	path2 := w2.CAFile()
	if _, err := os.Stat(path2); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	if _, err := os.Stat(path2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close, %s: %v; want it removed", path2, err)
	}
}

// TestPosts delivers a TLS-RPT report to the https rua that a domain of
// the world publishes, from outside the world, and reads it back.
func TestPosts(t *testing.T) {
	w := mtaststest.NewWorld(t)
	w.AddDomain("example.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx1.example.test"}, MaxAge: 3600})
	w.SetTLSRPT("example.test", "v=TLSRPTv1; rua=https://reports.example.test/v1/tlsrpt")
	w.AddHTTPSHost("reports.example.test")
	ctx := ctxFor(t)

	txts, err := w.NetResolver().LookupTXT(ctx, "_smtp._tls.example.test")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := tlsrpt.ParseTXT(txts)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := tlsrpt.NewRecorder(tlsrpt.Options{Clock: func() time.Time { return now }})
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 3600\n"))
	if err != nil {
		t.Fatal(err)
	}
	r.Record(tlsrpt.Result{Domain: "example.test", Policy: p, ReceivingMX: "mx1.example.test"})
	r.Record(tlsrpt.Result{Domain: "example.test", Policy: p, ReceivingMX: "mx1.example.test", ResultType: validate.ResultCertificateExpired})
	now = now.Add(24 * time.Hour) // the day is over
	reps, err := r.Reports(now.Add(-24*time.Hour), tlsrpt.ReportOptions{OrganizationName: "Origin", ContactInfo: "tlsrpt@origin.test"})
	if err != nil || len(reps) != 1 {
		t.Fatalf("Reports = %d reports, %v", len(reps), err)
	}
	s := tlsrpt.NewSender(tlsrpt.SenderOptions{DNS: []string{w.DNSAddr()}, RootCAs: w.RootCAs(), HTTPSPort: w.HTTPSPort(),
		Timeout: 5 * time.Second, MaxAttempts: 1})
	if err := s.Deliver(ctx, reps[0], rec); err != nil {
		t.Fatal(err)
	}

	posts := w.Posts("reports.example.test")
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	got := posts[0]
	if got.Host != "reports.example.test" || got.Path != "/v1/tlsrpt" || got.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
		t.Errorf("post to %s%s, Content-Type %q", got.Host, got.Path, got.Header.Get("Content-Type"))
	}
	report := readReport(t, got.Body)
	if len(report.Policies) != 1 || report.Policies[0].Summary.TotalFailure != 1 || report.Policies[0].Summary.TotalSuccessful != 1 {
		t.Errorf("report posted: %+v", report)
	}
	if n := len(w.Posts("mta-sts.example.test")); n != 0 {
		t.Errorf("%d posts to the policy host, want 0", n)
	}
}

func readReport(t *testing.T, body []byte) *tlsrpt.Report {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	j, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var rep tlsrpt.Report
	if err := json.Unmarshal(j, &rep); err != nil {
		t.Fatalf("%v\n%s", err, j)
	}
	return &rep
}

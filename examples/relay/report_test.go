package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mtasts-go/mtasts/internal/reporttest"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

// TestReportDay runs the relay over a simulated midnight: it counts the
// sessions of a day, is killed (kill -9) and restarted mid-day, and after
// midnight sends one report by HTTPS POST and one by DKIM-signed mail,
// each with every session of the day counted once.
func TestReportDay(t *testing.T) {
	bin := build(t)
	w := newWorld(t)
	w.SetTLSRPT("enforce.test", "v=TLSRPTv1; rua=https://reports.enforce.test/v1/tlsrpt")
	w.SetAddrs("reports.enforce.test", w.IP())
	w.SetTLSRPT("plain.test", "v=TLSRPTv1; rua=mailto:tlsrpt@plain.test")
	if _, err := w.AddSMTPHost("submit.test"); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}

	// The relay's clock reads 25 s before the next midnight UTC.
	now := time.Now()
	midnight := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	offset := midnight.Add(-25 * time.Second).Sub(now)
	args := append([]string{}, w.args...)
	args = append(args, "-tlsrpt", filepath.Join(t.TempDir(), "tlsrpt"),
		"-report-contact", "tlsrpt@relay.test", "-dkim-key", keyFile, "-dkim-selector", "s1",
		"-submit", w.SMTPAddr("submit.test"), "-submit-servername", "submit.test",
		"-report-max-delay", "2s", "-report-clock-offset", offset.String())

	p := start(t, bin, args...)
	for _, d := range []string{"enforce.test", "plain.test", "enforce.test"} {
		if err := send(t, p.addr, "rcpt@"+d, "day"); err != nil {
			t.Fatalf("%s: %v\n%s", d, err, p.log())
		}
	}
	p.cmd.Process.Kill() // a crash mid-day
	<-p.read
	p.cmd.Wait()
	p2 := start(t, bin, args...)
	if err := send(t, p2.addr, "rcpt@enforce.test", "day"); err != nil {
		t.Fatalf("%v\n%s", err, p2.log())
	}
	if time.Now().Add(offset).After(midnight) {
		t.Skip("the machine is too slow: the sessions crossed the simulated midnight")
	}

	// After midnight and the delay, the reports go out.
	deadline := time.Now().Add(40 * time.Second)
	for len(w.Posts("reports.enforce.test")) == 0 || len(w.Messages("submit.test")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d posts, %d mails after 40 s\n%s", len(w.Posts("reports.enforce.test")), len(w.Messages("submit.test")), p2.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p2.cmd.Process.Signal(syscall.SIGTERM)
	<-p2.read
	p2.cmd.Wait()

	posts := w.Posts("reports.enforce.test")
	if len(posts) != 1 {
		t.Errorf("%d posts", len(posts))
	}
	if rep := gunzipReport(t, posts[0].Body); rep.Policies[0].Summary.TotalSuccessful != 3 {
		t.Errorf("enforce.test report: %+v", rep.Policies)
	}
	msgs := w.Messages("submit.test")
	if len(msgs) != 1 || msgs[0].To[0] != "tlsrpt@plain.test" || msgs[0].From != "tlsrpt@relay.test" {
		t.Fatalf("mails %+v", msgs)
	}
	record := "v=DKIM1; k=ed25519; s=email:tlsrpt; p=" + base64.StdEncoding.EncodeToString(pub)
	v, err := dkim.VerifyWithOptions(bytes.NewReader(msgs[0].Data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name != "s1._domainkey.relay.test" {
				t.Errorf("key looked up at %s", name)
			}
			return []string{record}, nil
		},
	})
	if err != nil || len(v) != 1 || v[0].Err != nil {
		t.Fatalf("DKIM: %v %+v", err, v)
	}
	data := string(msgs[0].Data)
	i := strings.Index(data, "Content-Type: application/tlsrpt+gzip")
	j := strings.Index(data[i:], "\r\n\r\n")
	end := strings.Index(data[i+j+4:], "\r\n--")
	gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(data[i+j+4:i+j+4+end], "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	if rep := gunzipReport(t, gz); rep.Policies[0].Summary.TotalSuccessful != 1 || rep.Policies[0].Policy.Type != tlsrpt.PolicyNone {
		t.Errorf("plain.test report: %+v", rep.Policies)
	}
}

func gunzipReport(t *testing.T, gz []byte) tlsrpt.Report {
	t.Helper()
	var rep tlsrpt.Report
	if err := json.Unmarshal(reporttest.Gunzip(t, gz), &rep); err != nil {
		t.Fatal(err)
	}
	if err := rep.Validate(); err != nil {
		t.Error(err)
	}
	return rep
}

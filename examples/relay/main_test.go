package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/examples/internal/clitest"
	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is the loopback world of the tests, and the relay's flags for it.
type world struct {
	*testserver.World
	args []string
}

func newWorld(t *testing.T) *world {
	w, flags := cmdtest.World(t)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmdtest.AddDomain(t, w, "enforce.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.test", "mx2.enforce.test"}, MaxAge: 86400, ID: "e1"})
	cmdtest.AddDomain(t, w, "expired.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.expired.test", "mx2.expired.test"}, MaxAge: 86400, ID: "x1"})
	w.Fault("mx1.expired.test", testserver.CertExpired)
	cmdtest.AddDomain(t, w, "testing.test", testserver.Policy{Mode: "testing", MX: []string{"mx.testing.test"}, MaxAge: 86400, ID: "t1"})
	w.Fault("mx.testing.test", testserver.CertWrongHost)
	cmdtest.AddDomain(t, w, "nostarttls.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.nostarttls.test"}, MaxAge: 86400, ID: "n1"})
	w.Fault("mx.nostarttls.test", testserver.NoSTARTTLS)
	// mismatch.test's MX record points at a host its policy does not list,
	// as a spoofed DNS answer would.
	cmdtest.AddDomain(t, w, "mismatch.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.mismatch.test"}, MaxAge: 86400, ID: "m1"})
	clitest.SMTPHost(t, w, "mx.evil.test")
	w.SetMX("mismatch.test", "mx.evil.test")
	clitest.SMTPHost(t, w, "mx.plain.test")
	w.SetMX("plain.test", "mx.plain.test")
	// badname.test's first MX target has a dot inside a label, which no
	// host name has: the relay must skip it and use the next one.
	clitest.SMTPHost(t, w, "mx.badname.test")
	must(w.AddRecords("badname.test. 300 IN MX 10 mx\\.evil.test.\nbadname.test. 300 IN MX 20 mx.badname.test.\n"))

	args := append([]string{"-listen", "127.0.0.1:0"}, cmdtest.Args(flags, "-timeout", "10s")...)
	args = append(args, cmdtest.SMTPFlags(w, "mx1.enforce.test", "mx2.enforce.test", "mx1.expired.test", "mx2.expired.test",
		"mx.testing.test", "mx.nostarttls.test", "mx.mismatch.test", "mx.evil.test", "mx.plain.test", "mx.badname.test")...)
	return &world{w, args}
}

func build(t *testing.T) string { return cmdtest.Build(t, "relay") }

// proc is a running relay.
type proc struct {
	cmd  *exec.Cmd
	addr string

	mu   sync.Mutex
	logs bytes.Buffer
	read chan struct{} // closed when stderr is read to its end
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs the relay and waits until it listens.
func start(t *testing.T, bin string, args ...string) *proc {
	p := &proc{cmd: exec.Command(bin, args...), read: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(p.read)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.read
		p.cmd.Wait()
	})
	select {
	case p.addr = <-addr:
	case <-p.read:
		t.Fatalf("relay exited:\n%s", p.log())
	case <-time.After(10 * time.Second):
		t.Fatalf("relay does not listen:\n%s", p.log())
	}
	return p
}

// send submits one message to the relay and returns the reply to DATA.
func send(t *testing.T, addr, rcpt, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.localhost"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@origin.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(wc, "Subject: test\r\n\r\n"+body+"\r\n")
	err = wc.Close()
	c.Quit()
	return err
}

// sessionLog finds the log line of the session with mx.
func sessionLog(logs, mx string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "msg=session") && strings.Contains(l, "mx="+mx+" ") {
			return l
		}
	}
	return ""
}

// TestRelay delivers messages end to end through the relay into the
// world's SMTP servers, and checks what it refuses.
func TestRelay(t *testing.T) {
	bin := build(t)
	w := newWorld(t)
	p := start(t, bin, w.args...)

	for _, tc := range []struct {
		name, domain string
		code         int    // 0: delivered; else the reply code
		got          string // the MX host that must have the message
		empty        []string
		sessions     map[string]string // mx → "result=..." logged
	}{
		{"enforce", "enforce.test", 0, "mx1.enforce.test", []string{"mx2.enforce.test"},
			map[string]string{"mx1.enforce.test": "result=success"}},
		{"enforce_expired_first", "expired.test", 0, "mx2.expired.test", []string{"mx1.expired.test"},
			map[string]string{"mx1.expired.test": "result=certificate-expired", "mx2.expired.test": "result=success"}},
		{"enforce_mismatch", "mismatch.test", 451, "", []string{"mx.evil.test", "mx.mismatch.test"},
			map[string]string{"mx.evil.test": "action=refuse policy=\"enforce m1\" result=validation-failure"}},
		{"enforce_no_starttls", "nostarttls.test", 451, "", []string{"mx.nostarttls.test"},
			map[string]string{"mx.nostarttls.test": "result=starttls-not-supported"}},
		{"testing_wrong_host", "testing.test", 0, "mx.testing.test", nil,
			map[string]string{"mx.testing.test": "result=certificate-host-mismatch"}},
		{"no_policy", "plain.test", 0, "mx.plain.test", nil,
			map[string]string{"mx.plain.test": "action=deliver-without-sts policy=none result=success"}},
		{"mx_bad_name_skipped", "badname.test", 0, "mx.badname.test", nil,
			map[string]string{"mx.badname.test": "action=deliver-without-sts policy=none result=success"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "hello " + tc.name
			err := send(t, p.addr, "rcpt@"+tc.domain, body)
			var te *textproto.Error
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("send: %v\n%s", err, p.log())
			case tc.code != 0 && (!errors.As(err, &te) || te.Code != tc.code):
				t.Fatalf("send: %v, want %d\n%s", err, tc.code, p.log())
			}
			if tc.got != "" {
				msgs := w.Messages(tc.got)
				if len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), body) || msgs[0].To[0] != "rcpt@"+tc.domain {
					t.Errorf("%s got %+v", tc.got, msgs)
				}
				if tc.domain != "plain.test" && tc.domain != "badname.test" && (!msgs[0].TLS || msgs[0].ServerName != tc.got) {
					t.Errorf("%s: TLS %v, SNI %q; want TLS with SNI", tc.got, msgs[0].TLS, msgs[0].ServerName)
				}
			}
			for _, h := range tc.empty {
				if n := len(w.Messages(h)); n != 0 {
					t.Errorf("%s got %d messages, want none", h, n)
				}
			}
			for mx, want := range tc.sessions {
				// The log comes through a pipe: wait for it, for at most 5 s.
				l := sessionLog(p.log(), mx)
				for deadline := time.Now().Add(5 * time.Second); !strings.Contains(l, want) && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
					l = sessionLog(p.log(), mx)
				}
				if !strings.Contains(l, want) {
					t.Errorf("session with %s logged %q, want %q", mx, l, want)
				}
			}
		})
	}
	t.Run("two_domains", func(t *testing.T) {
		c, err := smtp.Dial(p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Mail("sender@origin.test")
		if err := c.Rcpt("a@enforce.test"); err != nil {
			t.Fatal(err)
		}
		var te *textproto.Error
		if err := c.Rcpt("b@plain.test"); !errors.As(err, &te) || te.Code != 451 {
			t.Errorf("second domain: %v, want 451", err)
		}
		c.Quit()
	})
	t.Logf("relay log:\n%s", p.log())
}

// TestOnce checks the exit status of -once and the usage errors.
func TestOnce(t *testing.T) {
	bin := build(t)
	w := newWorld(t)
	for _, tc := range []struct {
		domain string
		status int
	}{{"enforce.test", 0}, {"mismatch.test", 75}} {
		t.Run(tc.domain, func(t *testing.T) {
			p := start(t, bin, cmdtest.Args(w.args, "-once")...)
			send(t, p.addr, "rcpt@"+tc.domain, "once")
			done := make(chan error, 1)
			go func() {
				<-p.read
				done <- p.cmd.Wait()
			}()
			select {
			case err := <-done:
				var ee *exec.ExitError
				code := 0
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				}
				if code != tc.status {
					t.Errorf("exit %d (%v), want %d\n%s", code, err, tc.status, p.log())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("relay -once did not exit\n%s", p.log())
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		// A -tlsrpt directory that is a file, or cannot be created.
		dir := t.TempDir()
		bad := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(bad, []byte("not a snapshot"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"-listen", "0.0.0.0:2525"}, {"-listen", "192.0.2.1:25"}, {"-listen", "localhost:25"},
			{"extra"}, {"-timeout", "0s"}, {"-smtp-addr", "x"},
			{"-tlsrpt", bad}, {"-tlsrpt", filepath.Join(dir, "no", "such", "dir.json")}} {
			err := exec.Command(bin, args...).Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 64 {
				t.Errorf("%q: %v, want exit 64", args, err)
			}
		}
	})
}

// TestTLSRPT delivers messages through a relay with -tlsrpt, then a second
// relay started on the same file, and reads the counts back the way a
// reporting job does: the day's reports, built once the day is over.
func TestTLSRPT(t *testing.T) {
	bin := build(t)
	w := newWorld(t)
	// none.test retires MTA-STS: mode none counts as no policy.
	cmdtest.AddDomain(t, w.World, "none.test", testserver.Policy{Mode: "none", MX: []string{"mx.none.test"}, MaxAge: 86400, ID: "z1"})
	// webpki.test's policy cannot be fetched: an untrusted certificate.
	cmdtest.AddDomain(t, w.World, "webpki.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.webpki.test"}, MaxAge: 86400, ID: "w1"})
	w.Fault("mta-sts.webpki.test", testserver.CertUntrusted)
	// clear.test has no policy, and its MX no STARTTLS.
	clitest.SMTPHost(t, w.World, "mx.clear.test")
	w.SetMX("clear.test", "mx.clear.test")
	w.Fault("mx.clear.test", testserver.NoSTARTTLS)
	// Only domains that publish a TLS-RPT record are counted.
	for _, d := range []string{"expired.test", "enforce.test", "mismatch.test", "nostarttls.test", "testing.test",
		"plain.test", "none.test", "webpki.test", "clear.test"} {
		w.SetTLSRPT(d, "v=TLSRPTv1; rua=https://reports.example/"+d)
	}
	w.SetMX("unreported.test", "mx.plain.test")
	file := filepath.Join(t.TempDir(), "tlsrpt")
	args := cmdtest.Args(w.args, cmdtest.SMTPFlags(w.World, "mx.none.test", "mx.webpki.test", "mx.clear.test")...)
	args = append(args, "-tlsrpt", file)

	deliver := func(p *proc, domains ...string) {
		t.Helper()
		for _, d := range domains {
			err := send(t, p.addr, "rcpt@"+d, "tlsrpt")
			var te *textproto.Error
			if err != nil && (!errors.As(err, &te) || te.Code != 451) {
				t.Fatalf("%s: %v\n%s", d, err, p.log())
			}
		}
	}
	p := start(t, bin, args...)
	deliver(p, "expired.test", "enforce.test", "mismatch.test", "nostarttls.test", "testing.test", "plain.test", "none.test",
		"webpki.test", "clear.test", "unreported.test")
	// The counts are journaled as they come: read them now, then again
	// after a crash (kill -9) and a restart that adds one more session.
	got := reportsWithout(t, file, "unreported.test")
	p.cmd.Process.Kill()
	<-p.read
	p.cmd.Wait()
	p2 := start(t, bin, args...)
	deliver(p2, "enforce.test")
	p2.cmd.Process.Signal(syscall.SIGTERM)
	<-p2.read
	if err := p2.cmd.Wait(); err != nil {
		t.Fatalf("relay: %v\n%s", err, p2.log())
	}
	again := reportsWithout(t, file, "unreported.test")

	type fail struct {
		result, mx string
		ip         bool // with the sending and receiving IP
	}
	for _, tc := range []struct {
		domain     string
		typ        tlsrpt.PolicyType
		ok, failed int64
		fails      []fail
	}{
		{"expired.test", tlsrpt.PolicySTS, 1, 1, []fail{{"certificate-expired", "mx1.expired.test", true}}},
		{"enforce.test", tlsrpt.PolicySTS, 1, 0, nil},
		{"mismatch.test", tlsrpt.PolicySTS, 0, 1, []fail{{"validation-failure", "mx.evil.test", false}}},
		{"nostarttls.test", tlsrpt.PolicySTS, 0, 1, []fail{{"starttls-not-supported", "mx.nostarttls.test", true}}},
		{"testing.test", tlsrpt.PolicySTS, 0, 1, []fail{{"certificate-host-mismatch", "mx.testing.test", true}}},
		{"plain.test", tlsrpt.PolicyNone, 1, 0, nil},
		{"none.test", tlsrpt.PolicyNone, 1, 0, nil},
		{"webpki.test", tlsrpt.PolicySTS, 0, 1, []fail{{"sts-webpki-invalid", "mx.webpki.test", true}}},
		{"clear.test", tlsrpt.PolicyNone, 0, 1, []fail{{"starttls-not-supported", "mx.clear.test", true}}},
	} {
		pr, ok := got[tc.domain]
		if !ok {
			t.Errorf("%s: no report in %v", tc.domain, got)
			continue
		}
		if pr.Policy.Type != tc.typ || pr.Summary.TotalSuccessful != tc.ok || pr.Summary.TotalFailure != tc.failed ||
			len(pr.FailureDetails) != len(tc.fails) {
			t.Errorf("%s: %+v; want %s, %d successful, %d failed, %d failure details", tc.domain, pr, tc.typ, tc.ok, tc.failed, len(tc.fails))
			continue
		}
		// The policy applied is in the report; a policy that could not be
		// fetched has none.
		fetched := tc.typ == tlsrpt.PolicySTS && tc.domain != "webpki.test"
		if fetched != (len(pr.Policy.PolicyString) > 0 && pr.Policy.PolicyString[0] == "version: STSv1") {
			t.Errorf("%s: policy-string %q", tc.domain, pr.Policy.PolicyString)
		}
		for i, f := range tc.fails {
			d := pr.FailureDetails[i]
			if string(d.ResultType) != f.result || d.ReceivingMXHostname != f.mx || d.FailedSessionCount != 1 ||
				f.ip != (d.SendingMTAIP.IsLoopback() && d.ReceivingIP == w.IP()) {
				t.Errorf("%s: failure %+v; want %+v (receiving IP %s)", tc.domain, d, f, w.IP())
			}
		}
	}
	if n := len(got); n != 9 {
		t.Errorf("%d policy domains reported, want 9: %v", n, got)
	}
	if pr := again["enforce.test"]; pr.Summary.TotalSuccessful != 2 {
		t.Errorf("after a restart, enforce.test: %+v; want 2 successful", pr)
	}
	if pr := again["expired.test"]; pr.Summary.TotalSuccessful != 1 || pr.Summary.TotalFailure != 1 {
		t.Errorf("after a restart, expired.test: %+v; want the counts kept", pr)
	}
	t.Logf("relay logs:\n%s\n%s", p.log(), p2.log())
}

// reportsWithout waits, for at most 10 s, until the counts in dir hold
// no report for domain (which publishes no TLS-RPT record: its counts go
// once the relay's lookup answers), and returns them as reports does.
func reportsWithout(t *testing.T, dir, domain string) map[string]tlsrpt.PolicyReport {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := reports(t, dir)
		if _, ok := got[domain]; !ok || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reports loads the TLS-RPT counts that a relay keeps in dir and builds
// the reports of every day they cover, as its Reporter will once the day
// is over, and returns the policy part of each by policy domain.
func reports(t *testing.T, dir string) map[string]tlsrpt.PolicyReport {
	t.Helper()
	later := func() time.Time { return time.Now().Add(36 * time.Hour) }
	rec := tlsrpt.NewRecorder(tlsrpt.Options{Clock: later})
	if err := tlsrpt.LoadState(dir, rec); err != nil {
		t.Fatal(err)
	}
	out := map[string]tlsrpt.PolicyReport{}
	// Around midnight UTC the sessions span two days: add them up.
	for _, day := range rec.Days() {
		reps, err := rec.Reports(day, tlsrpt.ReportOptions{OrganizationName: "Relay test", ContactInfo: "tlsrpt@relay.test"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			if err := r.Validate(); err != nil || len(r.Policies) != 1 {
				t.Fatalf("report %+v: %v", r, err)
			}
			pr, sum := r.Policies[0], out[r.Domain()]
			pr.Summary.TotalSuccessful += sum.Summary.TotalSuccessful
			pr.Summary.TotalFailure += sum.Summary.TotalFailure
			out[r.Domain()] = pr
		}
	}
	return out
}

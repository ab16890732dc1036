package tlsrpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

// fixedClock is a clock that a test moves by hand.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fixedClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var testOpts = ReportOptions{OrganizationName: "Company-X", ContactInfo: "tlsrpt@mail.company-x.example", UniqueID: "node1"}

func mustPolicy(t testing.TB, text string) *policy.Policy {
	t.Helper()
	p, _, err := policy.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recordSample records the sessions of the golden report on 2016-04-01.
func recordSample(t testing.TB, rec *Recorder) {
	p := mustPolicy(t, "version: STSv1\nmode: testing\nmx: *.mail.company-y.example\nmax_age: 86400\n")
	ip := netip.MustParseAddr
	for range 5 {
		rec.Record(Result{Domain: "company-y.example", Policy: p, ReceivingMX: "mx1.mail.company-y.example"})
	}
	for range 2 {
		rec.Record(Result{Domain: "Company-Y.example", Policy: p, ResultType: validate.ResultCertificateExpired,
			SendingIP: ip("2001:db8:abcd:0012::1"), ReceivingMX: "MX1.mail.company-y.example.", ReceivingIP: ip("::ffff:203.0.113.55")})
	}
	rec.Record(Result{Domain: "company-y.example", Policy: p, ResultType: validate.ResultValidationFailure,
		SendingIP: ip("198.51.100.62"), ReceivingMX: "mx-backup.mail.company-y.example", ReceivingIP: ip("203.0.113.58"),
		ReceivingHELO: "mx-backup.example", ReasonCode: "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED",
		AdditionalInfo: "https://reports.company-x.example/info?id=1"})
	// A policy fetch failure: no MX, no receiving IP (T70.2).
	rec.Record(Result{Domain: "bücher.example", ResultType: validate.ResultSTSPolicyFetchError, SendingIP: ip("198.51.100.62")})
	// No policy: TLS negotiated counts as success, no STARTTLS as failure.
	rec.Record(Result{Domain: "plain.example", ReceivingMX: "mx.plain.example"})
	rec.Record(Result{Domain: "plain.example", ResultType: validate.ResultStartTLSNotSupported, ReceivingMX: "mx.plain.example", ReceivingIP: ip("192.0.2.1")})
	// DANE.
	rec.Record(Result{Domain: "mx1.provider.net", Type: PolicyTLSA, PolicyString: []string{"3 1 1 8F0E"}, MXHost: []string{"mx1.provider.net"}})
}

// TestReportsGolden builds the reports of a day and compares them with
// testdata/reports.golden.json (UPDATE_GOLDEN=1 rewrites it).
func TestReportsGolden(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 13, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now})
	recordSample(t, rec)
	if _, err := rec.Reports(clk.Now(), testOpts); !errors.Is(err, ErrDayNotOver) {
		t.Fatalf("reports of today: %v", err)
	}
	clk.Set(time.Date(2016, 4, 2, 0, 0, 0, 0, time.UTC))
	reps, err := rec.Reports(time.Date(2016, 4, 1, 23, 0, 0, 0, time.UTC), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", r.Domain(), err)
		}
	}
	got, err := json.MarshalIndent(reps, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/reports.golden.json"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("reports differ from %s:\n%s", golden, got)
	}
	// Building again gives the same reports (ids included).
	again, _ := rec.Reports(time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC), testOpts)
	if b, _ := json.MarshalIndent(again, "", "  "); !bytes.Equal(append(b, '\n'), got) {
		t.Error("reports are not deterministic")
	}
	rec.Forget(time.Date(2016, 4, 1, 5, 0, 0, 0, time.UTC), "company-y.example")
	if reps, _ := rec.Reports(time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC), testOpts); len(reps) != 3 {
		t.Errorf("after Forget of one domain: %d reports", len(reps))
	}
	rec.Forget(time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC))
	if d := rec.Days(); len(d) != 0 {
		t.Errorf("after Forget: days %v", d)
	}
}

func TestReportOptions(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 2, 0, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now})
	for name, o := range map[string]ReportOptions{
		"no_org":         {ContactInfo: "a@b.example"},
		"bad_contact":    {OrganizationName: "X", ContactInfo: "b.example"},
		"bad_unique":     {OrganizationName: "X", ContactInfo: "a@b.example", UniqueID: "a-1"},
		"contact_ulabel": {OrganizationName: "X", ContactInfo: "a@bücher.example"},
	} {
		if _, err := rec.Reports(clk.Now().Add(-time.Hour), o); !errors.Is(err, ErrBadReport) {
			t.Errorf("%s: %v", name, err)
		}
	}
	rec.Record(Result{Domain: "example.com"})
	clk.Set(clk.Now().Add(24 * time.Hour))
	reps, err := rec.Reports(clk.Now().Add(-time.Hour), ReportOptions{OrganizationName: "X", ContactInfo: "a@b.example", UniqueID: "mta2"})
	if err != nil || len(reps) != 1 || reps[0].ReportID != "2016-04-02.example.com.mta2@b.example" {
		t.Fatalf("got %+v, %v", reps, err)
	}
}

func TestRecordDays(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 23, 59, 59, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now})
	rec.Record(Result{Domain: "example.com"})
	clk.Set(time.Date(2016, 4, 2, 0, 0, 0, 0, time.UTC))
	rec.Record(Result{Domain: "example.com"})
	clk.Set(time.Date(2016, 4, 2, 1, 0, 0, 0, time.FixedZone("x", 5*3600))) // 2016-04-01T20:00Z
	rec.Record(Result{Domain: "example.com"})
	days := rec.Days()
	if len(days) != 2 || !days[0].Equal(time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)) || days[0].Location() != time.UTC {
		t.Fatalf("days %v", days)
	}
	clk.Set(time.Date(2016, 4, 3, 0, 0, 0, 0, time.UTC))
	reps, _ := rec.Reports(days[0], testOpts)
	if len(reps) != 1 || reps[0].Policies[0].Summary.TotalSuccessful != 2 {
		t.Errorf("2016-04-01: %+v", reps)
	}
}

func TestRecordDropped(t *testing.T) {
	rec := NewRecorder(Options{MaxPolicies: 1})
	rec.Record(Result{Domain: "a.example"})
	rec.Record(Result{Domain: "b.example"})                        // over MaxPolicies
	rec.Record(Result{Domain: "bad..example"})                     // invalid domain
	rec.Record(Result{Domain: "a.example", ResultType: "no-such"}) // invalid result type
	rec.Record(Result{Domain: "a.example", Type: "dane"})          // invalid policy type
	if n := rec.Dropped(); n != 4 {
		t.Errorf("dropped %d, want 4", n)
	}
}

// TestFailureGroupCap checks that failures beyond the group cap still
// count in the summary.
func TestFailureGroupCap(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now, MaxFailureGroups: 2})
	for i := range 5 {
		rec.Record(Result{Domain: "example.com", ResultType: validate.ResultCertificateExpired,
			ReceivingIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
	}
	rec.Record(Result{Domain: "example.com", ResultType: validate.ResultCertificateExpired,
		ReceivingIP: netip.AddrFrom4([4]byte{192, 0, 2, 0})})
	clk.Set(clk.Now().Add(24 * time.Hour))
	reps, _ := rec.Reports(clk.Now().Add(-time.Hour), testOpts)
	pr := reps[0].Policies[0]
	if pr.Summary.TotalFailure != 6 || len(pr.FailureDetails) != 2 || pr.FailureDetails[0].FailedSessionCount != 2 {
		t.Errorf("got %+v", pr)
	}
}

func TestRecordConcurrent(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now})
	p := mustPolicy(t, "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				r := Result{Domain: "example.com", Policy: p, ReceivingMX: "mx.example.com"}
				if i%5 == 0 {
					r.ResultType = validate.ResultCertificateNotTrusted
					r.SendingIP = netip.AddrFrom4([4]byte{10, 0, 0, byte(g)})
				}
				rec.Record(r)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := rec.Snapshot(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	clk.Set(clk.Now().Add(24 * time.Hour))
	reps, _ := rec.Reports(clk.Now().Add(-time.Hour), testOpts)
	s := reps[0].Policies[0].Summary
	if s.TotalSuccessful != 8*400 || s.TotalFailure != 8*100 || len(reps[0].Policies[0].FailureDetails) != 8 {
		t.Errorf("got %+v", reps[0].Policies[0])
	}
}

// TestSnapshot checks that a snapshot saved to a file and loaded into a
// new recorder (a restart) gives the same reports, added to what the new
// recorder counted already.
func TestSnapshot(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now})
	recordSample(t, rec)
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	if err := rec.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	if err := rec.SaveFile(path); err != nil { // over an existing file
		t.Fatal(err)
	}
	after := NewRecorder(Options{Clock: clk.Now})
	if err := after.LoadFile(filepath.Join(t.TempDir(), "missing.json")); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	after.Record(Result{Domain: "plain.example"}) // counted before the restore
	if err := after.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	rec.Record(Result{Domain: "plain.example"})
	clk.Set(clk.Now().Add(24 * time.Hour))
	want, _ := rec.Reports(clk.Now().Add(-24*time.Hour), testOpts)
	got, _ := after.Reports(clk.Now().Add(-24*time.Hour), testOpts)
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if !bytes.Equal(wj, gj) {
		t.Errorf("restored:\n%s\nwant\n%s", gj, wj)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	for name, bad := range map[string]string{
		"not_json":   "{",
		"version":    `{"version":2,"entries":[]}`,
		"bad_day":    `{"version":1,"entries":[{"day":"2016-13-01","policy":{"policy-type":"sts","policy-domain":"a.example"}}]}`,
		"bad_type":   `{"version":1,"entries":[{"day":"2016-04-01","policy":{"policy-type":"x","policy-domain":"a.example"}}]}`,
		"bad_result": `{"version":1,"entries":[{"day":"2016-04-01","policy":{"policy-type":"sts","policy-domain":"a.example"},"details":[{"result-type":"x","failed-session-count":1}]}]}`,
		"bad_domain": `{"version":1,"entries":[{"day":"2016-04-01","policy":{"policy-type":"sts","policy-domain":"-a.example"}}]}`,
		"neg_count":  `{"version":1,"entries":[{"day":"2016-04-01","policy":{"policy-type":"sts","policy-domain":"a.example"},"details":[{"result-type":"validation-failure","failed-session-count":-1}]}]}`,
	} {
		r := NewRecorder(Options{})
		if err := r.Restore([]byte(bad)); !errors.Is(err, ErrBadSnapshot) || len(r.Days()) != 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	p := mustPolicy(b, "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: mx2.example.com\nmax_age: 86400\n")
	now := time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)
	rec := NewRecorder(Options{Clock: func() time.Time { return now }})
	ok := Result{Domain: "example.com", Policy: p, ReceivingMX: "mx1.example.com"}
	fail := ok
	fail.ResultType = validate.ResultCertificateExpired
	fail.SendingIP = netip.MustParseAddr("192.0.2.1")
	fail.ReceivingIP = netip.MustParseAddr("198.51.100.7")
	b.Run("success", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec.Record(ok)
		}
	})
	b.Run("failure", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec.Record(fail)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec.Record(ok)
			}
		})
	})
}

// TestRecorderMemoryBounds: texts from the remote side are capped, and the
// policies' texts count against MaxPolicyBytes.
func TestRecorderMemoryBounds(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now, MaxPolicyBytes: 300})
	long := strings.Repeat("é", 3000)
	rec.Record(Result{Domain: "a.example", ResultType: validate.ResultValidationFailure,
		ReceivingHELO: long, ReasonCode: "x" + long, AdditionalInfo: long})
	p := mustPolicy(t, "version: STSv1\nmode: enforce\nmx: mx.b.example\nmax_age: 86400\nx: "+strings.Repeat("y", 400)+"\n")
	rec.Record(Result{Domain: "b.example", Policy: p}) // its text is over the budget
	if n := rec.Dropped(); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	clk.Set(clk.Now().Add(24 * time.Hour))
	reps, err := rec.Reports(clk.Now().Add(-time.Hour), testOpts)
	if err != nil || len(reps) != 1 {
		t.Fatalf("%d reports, %v", len(reps), err)
	}
	fd := reps[0].Policies[0].FailureDetails[0]
	for _, s := range []string{fd.ReceivingMXHelo, fd.FailureReasonCode, fd.AdditionalInformation} {
		if len(s) > 255 || !utf8.ValidString(s) {
			t.Errorf("a text of %d bytes kept", len(s))
		}
	}
	rec.Forget(clk.Now().Add(-time.Hour))
	rec.Record(Result{Domain: "c.example", Policy: mustPolicy(t, "version: STSv1\nmode: enforce\nmx: mx.c.example\nmax_age: 86400\n")})
	if n := rec.Dropped(); n != 1 {
		t.Fatalf("after Forget, the budget is free again: dropped %d", n)
	}
}

package tlsrpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtasts-go/mtasts/validate"
)

// dayReports records with rec on 2016-04-01 through f, then builds that
// day's reports.
func dayReports(t *testing.T, opts Options, f func(rec *Recorder)) []*Report {
	t.Helper()
	clk := &fixedClock{now: time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)}
	opts.Clock = clk.Now
	rec := NewRecorder(opts)
	f(rec)
	clk.Set(time.Date(2016, 4, 2, 1, 0, 0, 0, time.UTC))
	reps, err := rec.Reports(time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	return reps
}

func TestFailureDetailsAlwaysPresent(t *testing.T) {
	reps := dayReports(t, Options{}, func(rec *Recorder) {
		rec.Record(Result{Domain: "example.com"})
	})
	j, _ := reps[0].JSON()
	if !strings.Contains(string(j), `"failure-details":[]`) {
		t.Errorf("no empty failure-details: %s", j)
	}
}

func TestAdditionalInformationOnlyURI(t *testing.T) {
	long := "https://info.example/" + strings.Repeat("%41", 400)
	for _, tc := range []struct {
		name, info string
		kept       bool
	}{
		{"absolute_uri", "https://reports.example/id/42", true},
		{"urn", "urn:ietf:rfc:8460", true},
		{"free_text", "see the logs", false},
		{"relative", "/info/42", false},
		{"long_uri_not_cut", long, false},
		{"bad_percent", "https://x.example/%4", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec *Recorder
			reps := dayReports(t, Options{}, func(r *Recorder) {
				rec = r
				r.Record(Result{Domain: "example.com", ResultType: validate.ResultStartTLSNotSupported, AdditionalInfo: tc.info})
			})
			got := reps[0].Policies[0].FailureDetails[0].AdditionalInformation
			if tc.kept && got != tc.info || !tc.kept && got != "" {
				t.Errorf("additional-information %q", got)
			}
			if n := rec.Stats().InfoDropped; n != map[bool]uint64{true: 0, false: 1}[tc.kept] {
				t.Errorf("InfoDropped %d", n)
			}
		})
	}
}

func TestRecordRefusesInvalidPolicy(t *testing.T) {
	rec := NewRecorder(Options{})
	for name, tc := range map[string]struct {
		res  Result
		want error
	}{
		"sts_without_policy":      {Result{Domain: "example.com", Type: PolicySTS}, ErrNoPolicy},
		"sts_failure_no_policy":   {Result{Domain: "example.com", Type: PolicySTS, ResultType: validate.ResultCertificateExpired}, ErrNoPolicy},
		"tlsa_without_records":    {Result{Domain: "example.com", Type: PolicyTLSA}, ErrNoPolicy},
		"tlsa_not_presentation":   {Result{Domain: "example.com", Type: PolicyTLSA, PolicyString: []string{"hello"}}, ErrBadTLSA},
		"tlsa_bad_hex":            {Result{Domain: "example.com", Type: PolicyTLSA, PolicyString: []string{"3 1 1 XYZ0"}}, ErrBadTLSA},
		"tlsa_usage_out_of_range": {Result{Domain: "example.com", Type: PolicyTLSA, PolicyString: []string{"256 1 1 AB"}}, ErrBadTLSA},
		"bad_domain":              {Result{Domain: "bad..example"}, ErrBadResult},
		"bad_type":                {Result{Domain: "example.com", Type: "dane"}, ErrBadResult},
	} {
		err := rec.Record(tc.res)
		var re *ResultError
		if !errors.Is(err, tc.want) || !errors.As(err, &re) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if s := rec.Stats(); s.Invalid != 8 || len(rec.Days()) != 0 {
		t.Errorf("stats %+v, days %v", s, rec.Days())
	}
	// A policy fetch failure is an sts result with no policy to show.
	if err := rec.Record(Result{Domain: "example.com", ResultType: validate.ResultSTSPolicyFetchError}); err != nil {
		t.Error(err)
	}
}

func TestTLSAPresentationForm(t *testing.T) {
	reps := dayReports(t, Options{}, func(rec *Recorder) {
		if err := rec.Record(Result{Domain: "mx.example.net", Type: PolicyTLSA,
			PolicyString: []string{"3 1 1 (ab cd\n EF01 )", "2 0 1 0102"}, MXHost: []string{"mx.example.net"}}); err != nil {
			t.Fatal(err)
		}
	})
	got := reps[0].Policies[0].Policy.PolicyString
	if fmt.Sprint(got) != "[3 1 1 ABCDEF01 2 0 1 0102]" {
		t.Errorf("policy-string %q", got)
	}
}

func TestModeNoneIsNoPolicyFound(t *testing.T) {
	p := mustPolicy(t, "version: STSv1\nmode: none\nmax_age: 86400\n")
	reps := dayReports(t, Options{}, func(rec *Recorder) {
		rec.Record(Result{Domain: "example.com", Policy: p})
		rec.Record(Result{Domain: "example.com", Type: PolicySTS, Policy: p, ResultType: validate.ResultStartTLSNotSupported})
	})
	pol := reps[0].Policies
	if len(pol) != 1 || pol[0].Policy.Type != PolicyNone || len(pol[0].Policy.PolicyString) != 0 ||
		pol[0].Summary.TotalSuccessful != 1 || pol[0].Summary.TotalFailure != 1 {
		t.Errorf("policies %+v", pol)
	}
}

func TestUnusableMailtoKeepsRecord(t *testing.T) {
	for _, bad := range []string{"mailto:a@example.com%2Cb@example.com", "mailto:a@[192.0.2.1]"} {
		r, err := ParseRecord("v=TLSRPTv1; rua=" + bad + ",https://reports.example.com/v1")
		if err != nil {
			t.Errorf("%s: %v", bad, err)
			continue
		}
		if len(r.RUA) != 1 || r.RUA[0] != "https://reports.example.com/v1" || len(r.Unusable) != 1 ||
			r.Unusable[0].URI != bad || !errors.Is(r.Unusable[0].Err, ErrUnusableURI) {
			t.Errorf("%s: %+v", bad, r)
		}
		back, err := ParseRecord(r.String())
		if err != nil || !back.Equal(r) {
			t.Errorf("%s: round trip %q: %+v %v", bad, r.String(), back, err)
		}
	}
	// Alone, an unusable URI leaves nowhere to send reports.
	r, err := ParseRecord("v=TLSRPTv1; rua=mailto:a@[192.0.2.1]")
	if !errors.Is(err, ErrNoUsableURI) || len(r.Unusable) != 1 {
		t.Errorf("alone: %+v %v", r, err)
	}
}

func TestPermanentFailuresStopRetries(t *testing.T) {
	rep := sampleReport()
	for name, tc := range map[string]struct {
		fail error
		rua  string
	}{
		"smtp_5xx":        {&smtp.SMTPError{Code: 550, Message: "no such user"}, "mailto:a@example.com"},
		"marked":          {Permanent(errors.New("over quota for ever")), "mailto:a@example.com"},
		"mailto_unusable": {nil, "mailto:a@[192.0.2.1]"},
	} {
		calls := 0
		s := NewSender(SenderOptions{MaxAttempts: 5, Backoff: time.Hour,
			Mail: func(context.Context, string, []string, []byte) error { calls++; return tc.fail }})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.Deliver(ctx, rep, Record{RUA: []string{tc.rua}})
		cancel()
		var de *DeliveryError
		if !errors.As(err, &de) || de.Attempts != 1 || !errors.Is(err, ErrPermanent) || calls > 1 {
			t.Errorf("%s: %v (%d calls)", name, err, calls)
		}
	}
	// A temporary 4xx is retried.
	calls := 0
	s := NewSender(SenderOptions{MaxAttempts: 2, Backoff: time.Millisecond,
		Mail: func(context.Context, string, []string, []byte) error {
			calls++
			return &smtp.SMTPError{Code: 451, Message: "later"}
		}})
	err := s.Deliver(context.Background(), rep, Record{RUA: []string{"mailto:a@example.com"}})
	if errors.Is(err, ErrPermanent) || calls != 2 {
		t.Errorf("4xx: %v, %d calls", err, calls)
	}
}

func TestFailureGroupCapKeepsLargest(t *testing.T) {
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	reps := dayReports(t, Options{MaxFailureGroups: 2}, func(rec *Recorder) {
		for i := 1; i <= 6; i++ { // groups of 1, 2, ... 6 sessions, smallest first
			for range i {
				rec.Record(Result{Domain: "example.com", ResultType: validate.ResultStartTLSNotSupported, ReceivingIP: ip(i)})
			}
		}
	})
	pr := reps[0].Policies[0]
	if len(pr.FailureDetails) != 2 {
		t.Fatalf("%d details", len(pr.FailureDetails))
	}
	var sum int64
	for _, d := range pr.FailureDetails {
		if d.ReceivingIP != ip(5) && d.ReceivingIP != ip(6) {
			t.Errorf("kept %v with %d", d.ReceivingIP, d.FailedSessionCount)
		}
		sum += d.FailedSessionCount
	}
	if sum != 11 || pr.Summary.TotalFailure != 21 {
		t.Errorf("details %d, total %d", sum, pr.Summary.TotalFailure)
	}
}

func TestReportIDPerNode(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now})
	rec.Record(Result{Domain: "example.com"})
	clk.Set(clk.Now().Add(24 * time.Hour))
	ids := map[string]bool{}
	for _, o := range []ReportOptions{
		{OrganizationName: "X", ContactInfo: "tlsrpt@x.example", UniqueID: "node1"},
		{OrganizationName: "X", ContactInfo: "tlsrpt@x.example", UniqueID: "node2"},
		{OrganizationName: "X", ContactInfo: "tlsrpt@x.example"}, // a default id of its own
	} {
		reps, err := rec.Reports(clk.Now().Add(-24*time.Hour), o)
		if err != nil {
			t.Fatal(err)
		}
		ids[reps[0].ReportID] = true
	}
	if len(ids) != 3 {
		t.Errorf("ids %v", ids)
	}
	if a, b := DefaultNodeID("tlsrpt@x.example"), DefaultNodeID("tlsrpt@x.example"); a != b || a == "" || alnumOnly(a) != a {
		t.Errorf("default node ids %q %q", a, b)
	}
}

// FuzzCanonTLSA: the canonical form of a TLSA record is its own canonical
// form, and nothing panics.
func FuzzCanonTLSA(f *testing.F) {
	for _, s := range []string{"3 1 1 AB12", "3 0 1 1F850B9CE7E7C5E8E0C9D9B0E6D6E4AB", "3 1 1 (AB CD)", "hello", "2 0 1 ( 01 02\n 03 )", "256 1 1 AB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := canonTLSA(s)
		if c != "" && canonTLSA(c) != c {
			t.Errorf("%q → %q → %q", s, c, canonTLSA(c))
		}
	})
}

// FuzzAbsoluteURI: an accepted additional-information URI fits in a report.
func FuzzAbsoluteURI(f *testing.F) {
	for _, s := range []string{"https://reports.example/id/42", "urn:ietf:rfc:8460", "see the logs", "https://x.example/%4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isAbsoluteURI(s) && (len(s) > maxInfo || strings.ContainsAny(s, " \r\n\"<>")) {
			t.Errorf("accepted %q", s)
		}
	})
}

// FuzzJournal: whatever a journal or a fleet holds, replaying it neither
// panics nor builds a report that does not validate.
func FuzzJournal(f *testing.F) {
	f.Add([]byte(`{"o":"r","d":16892,"k":"example.com","t":"sts","p":"version: STSv1\nmode: enforce\x00mx.example.com"}` + "\n" +
		`{"o":"r","d":16892,"k":"example.com","t":"no-policy-found","r":"starttls-not-supported","x":"mx.example.com"}` + "\n" +
		`{"o":"f","d":16892,"k":"example.com"}` + "\n" + `{"o":"n","k":"example.com"}` + "\n" + `{"o":"r","d":16892,"k":"a.example","t":"sts","p":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// In memory: a file per input made the target slow enough that
		// the fuzzer's deadline could strike inside one input.
		clk := &fixedClock{now: time.Date(2016, 4, 2, 1, 0, 0, 0, time.UTC)}
		rec := NewRecorder(Options{Clock: clk.Now})
		replayFrom(bytes.NewReader(data), rec, nil)
		rec.addCounts([]Count{{Day: time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC), Domain: "example.com", Key: string(data), N: 1}})
		for _, day := range rec.Days() {
			reps, err := rec.Reports(day, testOpts)
			if err != nil {
				continue // a day not over
			}
			for _, r := range reps {
				if err := r.Validate(); err != nil {
					t.Errorf("%v", err)
				}
			}
		}
	})
}

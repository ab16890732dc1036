package tlsrpt

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/validate"
)

func TestDaysForgottenAfter48h(t *testing.T) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now})
	for range 3 {
		rec.Record(Result{Domain: "example.com"})
	}
	// 47 h 59 min after the end of 2016-04-01, the day is still there.
	clk.Set(time.Date(2016, 4, 3, 23, 59, 0, 0, time.UTC))
	if d := rec.Days(); len(d) != 1 {
		t.Fatalf("days %v", d)
	}
	clk.Set(time.Date(2016, 4, 4, 0, 0, 0, 0, time.UTC))
	if d := rec.Days(); len(d) != 0 || rec.Stats().Expired != 3 {
		t.Errorf("days %v, stats %+v", d, rec.Stats())
	}
}

// TestNoRecordDomainsDoNotCrowdOut: 10 000 domains that publish no record
// come first; the 100 that do, afterwards, all find room.
func TestNoRecordDomainsDoNotCrowdOut(t *testing.T) {
	var mu sync.Mutex
	pending := map[string]bool{} // lookups asked for
	publishes := func(d string) bool { return len(d) > 4 && d[:4] == "pub-" }
	rec := NewRecorder(Options{MaxPolicies: 1000, RecordStatus: func(d string) (bool, bool) {
		mu.Lock()
		defer mu.Unlock()
		if done, asked := pending[d]; asked && done {
			return publishes(d), true
		}
		pending[d] = false
		return false, false
	}})
	resolve := func() { // the lookups finish
		mu.Lock()
		var todo []string
		for d, done := range pending {
			if !done {
				pending[d] = true
				todo = append(todo, d)
			}
		}
		mu.Unlock()
		for _, d := range todo {
			rec.Resolved(d, publishes(d))
		}
	}
	for i := range 10000 {
		rec.Record(Result{Domain: fmt.Sprintf("none-%d.example", i)})
		if i%300 == 0 {
			resolve()
		}
	}
	for i := range 100 {
		rec.Record(Result{Domain: fmt.Sprintf("pub-%d.example", i)})
	}
	resolve()
	for i := range 100 {
		rec.Record(Result{Domain: fmt.Sprintf("pub-%d.example", i)})
	}
	clk := time.Now().Add(48 * time.Hour)
	rec.clock = func() time.Time { return clk }
	reps, err := rec.Reports(time.Now(), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 100 {
		t.Errorf("%d reports, want 100", len(reps))
	}
	for _, r := range reps {
		if r.Policies[0].Summary.TotalSuccessful != 2 {
			t.Errorf("%s: %+v", r.Domain(), r.Policies[0].Summary)
		}
	}
	s := rec.Stats()
	if s.NoRecord+s.OverLimit != 10000 {
		t.Errorf("stats %+v", s)
	}
}

// TestMaxGroupsTotal: the failure groups of all entries together are
// bounded; the failures beyond still count in the summaries.
func TestMaxGroupsTotal(t *testing.T) {
	reps := dayReports(t, Options{MaxGroupsTotal: 5}, func(rec *Recorder) {
		for i := range 10 {
			rec.Record(Result{Domain: fmt.Sprintf("d%d.example", i%2), ResultType: validate.ResultStartTLSNotSupported,
				ReceivingMX: fmt.Sprintf("mx%d.example", i)})
		}
	})
	details, total := 0, int64(0)
	for _, r := range reps {
		details += len(r.Policies[0].FailureDetails)
		total += r.Policies[0].Summary.TotalFailure
	}
	if details != 5 || total != 10 {
		t.Errorf("%d details, %d failures", details, total)
	}
}

package redisreport_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/redistest"
	"github.com/mtasts-go/mtasts/internal/reporttest"
	"github.com/mtasts-go/mtasts/internal/testclock"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/tlsrpt"
	"github.com/mtasts-go/mtasts/tlsrpt/redisreport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTwoNodesOneReport: two Reporters share counts through one
// redis-server; the day's report goes out once, with the sessions of
// both.
func TestTwoNodesOneReport(t *testing.T) {
	srv := redistest.Start(t)
	w := testserver.Start(t)
	w.SetTLSRPT("https.example", "v=TLSRPTv1; rua=https://reports.https.example/v1")
	w.SetAddrs("reports.https.example", w.IP())
	clk := testclock.New(time.Date(2016, 4, 1, 10, 0, 0, 0, time.UTC))
	events := make(chan tlsrpt.DeliveryEvent, 10)
	var reps []*tlsrpt.Reporter
	for _, node := range []string{"node1", "node2"} {
		rep, err := tlsrpt.NewReporter(tlsrpt.ReporterOptions{
			OrganizationName: "Company-X",
			ContactInfo:      "tlsrpt@mail.company-x.example",
			NodeID:           node,
			Dir:              t.TempDir(),
			DNS:              dnsclient.New([]string{w.DNSAddr()}, time.Second),
			Delivery:         tlsrpt.SenderOptions{DNS: []string{w.DNSAddr()}, RootCAs: w.RootCAs(), HTTPSPort: w.HTTPSPort(), Timeout: 5 * time.Second},
			Fleet:            &redisreport.Fleet{Client: srv.Client(t)},
			Clock:            clk,
			MaxDelay:         time.Hour,
			Random:           func(time.Duration) time.Duration { return time.Duration(len(node)) * time.Minute },
			OnDelivery:       func(e tlsrpt.DeliveryEvent) { events <- e },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer rep.Close()
		reps = append(reps, rep)
	}
	for i, rep := range reps {
		for range 3 + i {
			if err := rep.Record(tlsrpt.Result{Domain: "https.example", ReceivingMX: "mx.https.example"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk.WaitTimers(t, 2)
	clk.Advance(15 * time.Hour)
	select {
	case e := <-events:
		if e.Err != nil || !e.Final {
			t.Fatalf("%+v", e)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no report after 20 s")
	}
	// The other node finds the report done; give it a moment to (not) post.
	clk.WaitTimers(t, 2)
	clk.Advance(time.Hour)
	clk.WaitTimers(t, 2)
	posts := w.Posts("reports.https.example")
	if len(posts) != 1 {
		t.Fatalf("%d posts", len(posts))
	}
	var rep tlsrpt.Report
	if err := json.Unmarshal(reporttest.Gunzip(t, posts[0].Body), &rep); err != nil {
		t.Fatal(err)
	}
	if n := rep.Policies[0].Summary.TotalSuccessful; n != 7 {
		t.Errorf("%d successful sessions, want 7 (3 + 4)", n)
	}
}

// TestPushOnce: a batch pushed twice under one id counts once; the lease
// is one node's, and none after Done.
func TestPushOnce(t *testing.T) {
	ctx := t.Context()
	f := &redisreport.Fleet{Client: redistest.Start(t).Client(t)}
	day := time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)
	batch := []tlsrpt.Count{{Day: day, Domain: "example.com", Key: "k", N: 3}}
	for range 2 {
		if err := f.Push(ctx, "node1-1", batch); err != nil {
			t.Fatal(err)
		}
	}
	f.Push(ctx, "node2-1", batch)
	c, err := f.Counts(ctx, day, "example.com")
	if err != nil || len(c) != 1 || c[0].N != 6 {
		t.Fatalf("counts %+v, %v", c, err)
	}
	if d, _ := f.Domains(ctx, day); len(d) != 1 || d[0] != "example.com" {
		t.Errorf("domains %v", d)
	}
	for _, tc := range []struct {
		node string
		want bool
	}{{"node1", true}, {"node2", false}, {"node1", true}} {
		if ok, err := f.Lease(ctx, day, "example.com", tc.node, time.Minute); ok != tc.want || err != nil {
			t.Errorf("lease %s: %v %v", tc.node, ok, err)
		}
	}
	if err := f.Done(ctx, day, "example.com"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Lease(ctx, day, "example.com", "node1", time.Minute); ok {
		t.Error("lease after Done")
	}
	if c, _ := f.Counts(ctx, day, "example.com"); len(c) != 0 {
		t.Errorf("counts after Done: %+v", c)
	}
}

// failingPush is a Fleet whose pushes fail, as when Redis is down.
type failingPush struct{ tlsrpt.Fleet }

func (failingPush) Push(context.Context, string, []tlsrpt.Count) error {
	return errors.New("redis down")
}

// TestPendingBatchSurvivesRestart: counts that could not be pushed stay in
// the state directory, and are pushed once by the next start.
func TestPendingBatchSurvivesRestart(t *testing.T) {
	srv := redistest.Start(t)
	w := testserver.Start(t)
	w.SetTLSRPT("https.example", "v=TLSRPTv1; rua=https://reports.https.example/v1")
	fleet := &redisreport.Fleet{Client: srv.Client(t)}
	dir := t.TempDir()
	day := time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)
	open := func(f tlsrpt.Fleet) *tlsrpt.Reporter {
		rep, err := tlsrpt.NewReporter(tlsrpt.ReporterOptions{
			OrganizationName: "Company-X", ContactInfo: "tlsrpt@mail.company-x.example", NodeID: "node1", Dir: dir,
			DNS:   dnsclient.New([]string{w.DNSAddr()}, time.Second),
			Fleet: f,
			Clock: testclock.New(day.Add(10 * time.Hour)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := open(failingPush{fleet})
	for range 3 {
		rep.Record(tlsrpt.Result{Domain: "https.example"})
	}
	rep.Close() // the last push fails: the batch stays pending
	for range 2 {
		open(fleet).Close() // pushes it, once
	}
	c, err := fleet.Counts(t.Context(), day, "https.example")
	if err != nil || len(c) != 1 || c[0].N != 3 {
		t.Errorf("counts %+v, %v", c, err)
	}
}

package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestDANEMXFailureGrace checks that a failed MX lookup under -dane
// defers no longer than a failed _mta-sts lookup: TEMP DANE within
// -dns-error-grace, then the MTA-STS answer; that the first failure of a
// run is logged at info, the others not; and that each counts in
// dns_temporary_failures_total.
func TestDANEMXFailureGrace(t *testing.T) {
	w := daneWorld(t)
	r := newDANEResolver(t, w)
	const temp = "TEMP DANE: dns: MX lookup of mx-bogus.test*"
	type step struct {
		advance time.Duration
		want    string
	}
	for _, tc := range []struct {
		name  string
		flag  time.Duration // -dns-error-grace
		steps []step
		logs  int // info lines about the failure
	}{
		{"default_30m", 30 * time.Minute, []step{{0, temp}, {10 * time.Minute, temp}, {19 * time.Minute, temp},
			{2 * time.Minute, daneEnforceReply}, {time.Hour, daneEnforceReply}}, 1},
		{"forever", 0, []step{{0, temp}, {24 * time.Hour, temp}, {30 * 24 * time.Hour, temp}}, 1},
		{"at_once", -time.Second, []step{{0, daneEnforceReply}, {time.Hour, daneEnforceReply}}, 2},
		{"new_run_after_quiet", 30 * time.Minute, []step{{0, temp}, {31 * time.Minute, daneEnforceReply},
			{3 * time.Hour, temp}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
			var logs syncBuffer
			m := NewMetrics(nil, clock.Now)
			s := &Server{Lookuper: r, DANE: newTestDANELookup(w, r), Metrics: m, DNSErrorGrace: serverGrace(tc.flag),
				Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
			s.init()
			s.graceT = newGraceTracker(s.graceT.grace, clock.Now)
			var buf answerBuf
			for i, st := range tc.steps {
				clock.Add(st.advance)
				if got := string(s.answer(t.Context(), []byte("postfix mx-bogus.test"), &buf)); !replyMatches(got, st.want) {
					t.Errorf("step %d (+%v): got %q, want %q", i, st.advance, got, st.want)
				}
			}
			if n := strings.Count(logs.String(), "level=INFO msg=\"DANE MX lookup failed temporarily\""); n != tc.logs {
				t.Errorf("%d info lines, want %d:\n%s", n, tc.logs, logs.String())
			}
			if n := counterValue(t, m, "mtasts_postfix_dns_temporary_failures_total"); n != float64(len(tc.steps)) {
				t.Errorf("dns_temporary_failures_total = %v, want %d", n, len(tc.steps))
			}
		})
	}
}

// counterValue returns the value of the counter name in m's registry.
func counterValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

package resolver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
)

// events records what the resolver reports.
type events struct {
	mu  sync.Mutex
	log []string
}

func (ev *events) add(format string, args ...any) {
	ev.mu.Lock()
	ev.log = append(ev.log, fmt.Sprintf(format, args...))
	ev.mu.Unlock()
}

func (ev *events) take() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	out := ev.log
	ev.log = nil
	return out
}

func (ev *events) hooks() Events {
	return Events{
		Fetched:     func(d, id string, p *policy.Policy, _ []policy.Warning) { ev.add("fetched %s %s %s", d, id, p.Mode) },
		Changed:     func(d, o, n string) { ev.add("changed %s %s->%s", d, o, n) },
		Downgraded:  func(d string, o, n *policy.Policy) { ev.add("downgraded %s %s->%s", d, o.Mode, n.Mode) },
		FetchFailed: func(d, id string, err error) { ev.add("fetch-failed %s %s", d, id) },
		ServedStale: func(d, id string, err error) { ev.add("served-stale %s %s", d, id) },
		StoreError:  func(err error) { ev.add("store-error") },
	}
}

// story is a resolver on a world with a fake clock and recorded events.
type story struct {
	t   *testing.T
	w   *testserver.World
	r   *Resolver
	clk *fakeClock
	ev  *events
}

func newStory(t *testing.T, mod ...func(*Options)) *story {
	s := &story{t: t, clk: newFakeClock(), ev: &events{}}
	s.w, s.r = newTest(t, append([]func(*Options){func(o *Options) {
		o.Clock = s.clk.Now
		o.Events = s.ev.hooks()
	}}, mod...)...)
	return s
}

// publish makes the world serve a policy for domain with the given id.
func (s *story) publish(mode string, maxAge int, id string, mx ...string) {
	s.t.Helper()
	if len(mx) == 0 {
		mx = []string{goodMX}
	}
	if s.w.ID(domain) == "" {
		if _, err := s.w.AddDomain(domain, testserver.Policy{Mode: mode, MX: mx, MaxAge: maxAge, ID: id}); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	s.w.SetPolicy(domain, testserver.Policy{Mode: mode, MX: mx, MaxAge: maxAge, ID: id})
}

// check runs Check, waits for any background work it started, and
// returns the decision.
func (s *story) check(mx string) Decision {
	s.t.Helper()
	d, err := s.r.Check(context.Background(), domain, mx)
	if err != nil {
		s.t.Fatal(err)
	}
	s.idle()
	return d
}

// idle waits until no background refresh runs (bounded).
func (s *story) idle() {
	s.t.Helper()
	waitIdle(s.t, s.r)
}

// expect checks a decision; its source must be one of srcs (where a
// background revalidation and a check race, either may have run first).
func (s *story) expect(d Decision, action Action, id string, srcs ...Source) {
	s.t.Helper()
	ok := false
	for _, src := range srcs {
		ok = ok || d.Source == src
	}
	if d.Action != action || d.PolicyID != id || !ok {
		s.t.Fatalf("got action %v id %q source %v (reason %q, err %v); want %v %q %v",
			d.Action, d.PolicyID, d.Source, d.Reason, d.Err, action, id, srcs)
	}
}

func (s *story) counts(txt, fetches int) {
	s.t.Helper()
	if q, f := s.w.Queries("_mta-sts."+domain, dns.TypeTXT), s.w.Fetches(domain); q != txt || f != fetches {
		s.t.Fatalf("%d TXT queries and %d fetches, want %d and %d", q, f, txt, fetches)
	}
}

func (s *story) events(want ...string) {
	s.t.Helper()
	got := s.ev.take()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		s.t.Fatalf("events %q, want %q", got, want)
	}
}

func TestStoryIDChangesThenHTTPSBreaks(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 86400, "1")
	s.expect(s.check(goodMX), Deliver, "1", SourceFetched)
	s.events("fetched example.test 1 enforce")
	s.publish("enforce", 86400, "2")
	s.w.Fault("mta-sts."+domain, testserver.Status(500))
	// Within the revalidation interval the cache answers alone.
	s.clk.Advance(4 * time.Minute)
	s.expect(s.check(goodMX), Deliver, "1", SourceCache)
	s.counts(1, 1)
	// Past it, a background TXT check sees id 2; the fetch fails; the
	// old policy stays in force (RFC 8461 section 3.3).
	s.clk.Advance(2 * time.Minute)
	s.expect(s.check(goodMX), Deliver, "1", SourceCache)
	s.counts(2, 2)
	s.events("fetch-failed example.test 2", "served-stale example.test 1")
	s.expect(s.check(otherMX), Refuse, "1", SourceStale)
	// One fetch per five minutes for id 2, however many deliveries.
	for range 5 {
		s.clk.Advance(time.Minute)
		s.check(goodMX)
	}
	if f := s.w.Fetches(domain); f != 3 {
		t.Fatalf("%d fetches after five minutes of failures, want 3", f)
	}
	// HTTPS comes back: the new policy replaces the old.
	s.w.ClearFaults()
	s.clk.Advance(6 * time.Minute)
	s.check(goodMX)
	s.expect(s.check(goodMX), Deliver, "2", SourceCache)
}

func TestStoryVanishedRecordKeepsPolicyUntilExpiry(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 3600, "1")
	s.check(goodMX)
	s.w.RemovePolicy(domain) // TXT and policy file gone
	for _, step := range []time.Duration{10 * time.Minute, 20 * time.Minute, 29 * time.Minute} {
		s.clk.Advance(step)
		// Past half its max_age the policy is refetched despite the
		// missing record (RFC 8461 section 10.2); that fails, so it is
		// stale, and still applies.
		s.expect(s.check(otherMX), Refuse, "1", SourceCache, SourceStale)
	}
	s.clk.Advance(2 * time.Minute) // past max_age: the policy expired
	d := s.check(otherMX)
	if d.Action != DeliverWithoutSTS || d.Policy != nil {
		t.Fatalf("after expiry: %+v", d)
	}
}

func TestStoryDNSFailureKeepsPolicy(t *testing.T) {
	s := newStory(t)
	s.publish("testing", 86400, "1")
	s.check(goodMX)
	s.ev.take()
	s.w.Fault("_mta-sts."+domain, testserver.ServFail)
	s.clk.Advance(time.Hour)
	s.expect(s.check(otherMX), Deliver, "1", SourceCache)
	s.events("served-stale example.test 1")
	s.w.Fault("_mta-sts."+domain, testserver.NXDomain)
	s.clk.Advance(time.Hour)
	s.expect(s.check(goodMX), Deliver, "1", SourceCache)
}

func TestStoryUnchangedIDRefetchPastHalfMaxAge(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 7200, "1")
	s.check(goodMX)
	s.clk.Advance(30 * time.Minute)
	s.check(goodMX)
	s.counts(2, 1) // revalidated, same id, not past half: no fetch
	s.clk.Advance(31 * time.Minute)
	s.check(goodMX)
	s.counts(3, 2) // past half: refetched in the background
	e, _ := s.r.Lookup(context.Background(), domain)
	if want := s.clk.Now().Add(2 * time.Hour); !e.Expires.Equal(want.Truncate(time.Second)) {
		t.Fatalf("expires %v, want %v", e.Expires, want)
	}
	// A failed refetch keeps the old expiry.
	s.w.Fault("mta-sts."+domain, testserver.Status(503))
	s.clk.Advance(61 * time.Minute)
	s.check(goodMX)
	e2, _ := s.r.Lookup(context.Background(), domain)
	if !e2.Expires.Equal(e.Expires) || e2.Source != SourceStale || e2.LastFailure == nil {
		t.Fatalf("after a failed refetch: %+v (was %v)", e2, e.Expires)
	}
}

func TestStoryDowngrade(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	s.ev.take()
	s.publish("testing", 86400, "2")
	s.clk.Advance(6 * time.Minute)
	s.check(goodMX)
	s.events("fetched example.test 2 testing", "changed example.test 1->2", "downgraded example.test enforce->testing")
	s.expect(s.check(otherMX), Deliver, "2", SourceCache)
	// RFC 8461 section 8.3: retiring MTA-STS with mode none.
	s.publish("none", 86400, "3")
	s.clk.Advance(6 * time.Minute)
	s.check(goodMX)
	s.events("fetched example.test 3 none", "changed example.test 2->3", "downgraded example.test testing->none")
	d := s.check(otherMX)
	if d.Action != DeliverWithoutSTS || d.Mode != policy.ModeNone || d.Result != "" {
		t.Fatalf("mode none: %+v", d)
	}
}

func TestStoryRefetchOnMismatch(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	// The domain adds an MX and a new policy at once.
	newMX := "mx2." + domain
	s.publish("enforce", 86400, "2", goodMX, newMX)
	s.clk.Advance(2 * time.Minute) // within the revalidation interval
	s.expect(s.check(newMX), Deliver, "2", SourceFetched)
	s.counts(2, 2)
	// A mismatch with an unchanged id: one TXT check, then Refuse.
	s.clk.Advance(2 * time.Minute)
	s.expect(s.check(otherMX), Refuse, "2", SourceCache)
	s.counts(3, 2)
	// Within a minute of that check, no further query.
	s.expect(s.check(otherMX), Refuse, "2", SourceCache)
	s.counts(3, 2)
	s.clk.Advance(time.Minute)
	s.expect(s.check(otherMX), Refuse, "2", SourceCache)
	s.counts(4, 2)
}

func TestStoryMismatchRightAfterFetch(t *testing.T) {
	// The policy was just fetched; the domain publishes a new id with a
	// new MX at once: the first mismatch still checks the record.
	s := newStory(t)
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	newMX := "mx2." + domain
	s.publish("enforce", 86400, "2", newMX)
	s.expect(s.check(newMX), Deliver, "2", SourceFetched)
}

func TestStoryProactiveRefresh(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 7*86400, "1")
	s.check(goodMX)
	ctx := context.Background()
	if n := s.r.refreshDue(ctx); n != 0 {
		t.Fatalf("refreshed %d fresh policies", n)
	}
	s.clk.Advance(5*24*time.Hour + 23*time.Hour) // 25 hours left
	if n := s.r.refreshDue(ctx); n != 0 {
		t.Fatalf("refreshed %d policies 25 h before expiry", n)
	}
	s.clk.Advance(12 * time.Hour) // 13 hours left: inside any jitter
	if n := s.r.refreshDue(ctx); n != 1 {
		t.Fatalf("refreshed %d policies 13 h before expiry, want 1", n)
	}
	s.idle()
	s.counts(2, 2)
	e, _ := s.r.Lookup(ctx, domain)
	if e.Expires.Sub(s.clk.Now()) != 7*24*time.Hour {
		t.Fatalf("expires %v after refresh", e.Expires)
	}
}

func TestJitterSpreadsDomains(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := range 50 {
		j := jitter(fmt.Sprintf("d%d.example", i), 6*time.Hour)
		if j < 0 || j >= 6*time.Hour {
			t.Fatalf("jitter %v out of range", j)
		}
		seen[j] = true
	}
	if len(seen) < 45 {
		t.Fatalf("only %d distinct jitters for 50 domains", len(seen))
	}
}

func TestStoryRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	store := &cache.DirStore{Dir: dir}
	s := newStory(t, func(o *Options) { o.Store = store })
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	s.r.Close()

	// A new resolver, on the same directory, while the domain's DNS is
	// down: the stored policy applies.
	s.w.Fault("_mta-sts."+domain, testserver.ServFail)
	opts := testOptions(s.w)
	opts.Clock, opts.Store = s.clk.Now, &cache.DirStore{Dir: dir}
	r2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	d, err := r2.Check(context.Background(), domain, otherMX)
	if err != nil || d.Action != Refuse || d.PolicyID != "1" {
		t.Fatalf("after restart: %+v, %v", d, err)
	}
	if n := 0; func() bool {
		for range r2.Cached() {
			n++
		}
		return n != 1
	}() {
		t.Fatal("Cached does not list the restored policy")
	}
}

func TestAdminPurgeAndRefresh(t *testing.T) {
	s := newStory(t)
	s.publish("enforce", 86400, "1")
	s.check(goodMX)
	ctx := context.Background()
	// Refresh fetches now, whatever the id.
	e, err := s.r.Refresh(ctx, domain)
	if err != nil || e.Source != SourceFetched {
		t.Fatalf("Refresh: %+v, %v", e, err)
	}
	s.counts(2, 2)
	// A failed Refresh keeps the cached policy and says why.
	s.w.Fault("mta-sts."+domain, testserver.Status(404))
	e, err = s.r.Refresh(ctx, domain)
	if err == nil || e == nil || e.Source != SourceStale || e.ID != "1" {
		t.Fatalf("failed Refresh: %+v, %v", e, err)
	}
	if err := s.r.Purge(ctx, "EXAMPLE.test"); err != nil {
		t.Fatal(err)
	}
	for e := range s.r.Cached() {
		t.Fatalf("still cached after Purge: %+v", e)
	}
	d := s.check(goodMX)
	if d.Action != DeliverWithoutSTS || d.Result != "sts-policy-fetch-error" {
		t.Fatalf("after Purge, with HTTPS broken: %+v", d)
	}
	s.w.ClearFaults()
	s.r.Refresh(ctx, domain)
	if err := s.r.PurgeAll(ctx); err != nil {
		t.Fatal(err)
	}
	for e := range s.r.Cached() {
		t.Fatalf("still cached after PurgeAll: %+v", e)
	}
}

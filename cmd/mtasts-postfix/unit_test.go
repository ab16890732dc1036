package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
)

// fakeClock is a clock that tests move.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestDNSErrorGrace: a domain whose TXT lookup fails temporarily is
// answered TEMP with a reason while the grace runs, NOTFOUND after; a
// success ends the run; 0 (GraceForever) never gives up, a negative
// grace gives NOTFOUND at once.
func TestDNSErrorGrace(t *testing.T) {
	w := newWorld(t)
	r := newResolver(t, w)
	for _, tc := range []struct {
		name  string
		flag  time.Duration // -dns-error-grace
		steps []struct {
			advance time.Duration
			want    string
		}
	}{
		{"default_30m", 30 * time.Minute, []struct {
			advance time.Duration
			want    string
		}{{0, "TEMP*"}, {10 * time.Minute, "TEMP*"}, {19 * time.Minute, "TEMP*"}, {2 * time.Minute, "NOTFOUND "}, {time.Hour, "NOTFOUND "}}},
		{"forever", 0, []struct {
			advance time.Duration
			want    string
		}{{0, "TEMP*"}, {24 * time.Hour, "TEMP*"}, {30 * 24 * time.Hour, "TEMP*"}}},
		{"at_once", -time.Second, []struct {
			advance time.Duration
			want    string
		}{{0, "NOTFOUND "}, {time.Hour, "NOTFOUND "}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
			s := &Server{Lookuper: r, Log: testLogger(t), DNSErrorGrace: serverGrace(tc.flag)}
			s.init()
			s.graceT = newGraceTracker(s.graceT.grace, clock.Now)
			var buf answerBuf
			for i, st := range tc.steps {
				clock.Add(st.advance)
				got := string(s.answer(t.Context(), []byte("postfix servfail.test"), &buf))
				want := st.want
				if want == "TEMP*" {
					want = tempPrefix + "servfail.test*"
				}
				if !replyMatches(got, want) {
					t.Errorf("step %d (+%v): got %q, want %q", i, st.advance, got, want)
				}
			}
		})
	}
	t.Run("run_ends_after_a_quiet_grace", func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
		g := newGraceTracker(30*time.Minute, clock.Now)
		if temp, first := g.failed("a.test"); !temp || !first {
			t.Fatalf("first failure: temp %v first %v", temp, first)
		}
		clock.Add(25 * time.Minute)
		if temp, first := g.failed("a.test"); !temp || first {
			t.Fatalf("within the grace: temp %v first %v", temp, first)
		}
		clock.Add(3 * time.Hour) // no failure for longer than Postfix's longest retry interval
		if temp, first := g.failed("a.test"); !temp || !first {
			t.Fatalf("a new run: temp %v first %v", temp, first)
		}
		clock.Add(31 * time.Minute)
		if temp, _ := g.failed("a.test"); temp {
			t.Fatal("grace over: still TEMP")
		}
		g.succeeded("a.test")
		if temp, first := g.failed("a.test"); !temp || !first {
			t.Fatalf("after a success: temp %v first %v", temp, first)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		g := newGraceTracker(time.Hour, nil)
		for i := range maxGraceDomains + 100 {
			g.failed(strings.Repeat("x", i%50) + ".test" + string(rune('a'+i%26)) + time.Duration(i).String())
		}
		if n := g.failures.Len(); n > maxGraceDomains {
			t.Errorf("%d domains remembered, bound %d", n, maxGraceDomains)
		}
	})
}

// TestTempReason: a TEMP reason is one line of bounded length.
func TestTempReason(t *testing.T) {
	var buf answerBuf
	got := string(tempReply(&buf, "MTA-STS: ", "a\r\nb\x00c"+strings.Repeat("z", 1000)))
	if strings.ContainsAny(got, "\r\n\x00") || len(got) != len("TEMP ")+maxReason || !strings.HasPrefix(got, "TEMP MTA-STS: a  b c") {
		t.Errorf("got %q (%d bytes)", got, len(got))
	}
}

// TestGraceFlagMapping: -dns-error-grace 0 is the resolver's
// GraceForever, other values are kept.
func TestGraceFlagMapping(t *testing.T) {
	for flag, want := range map[time.Duration]time.Duration{
		0: GraceForever, time.Minute: time.Minute, -time.Second: -time.Second, 30 * time.Minute: 30 * time.Minute,
	} {
		if got := resolverGrace(flag); got != want {
			t.Errorf("%v: got %v, want %v", flag, got, want)
		}
	}
}

// TestTLSRPTAttributes: the attributes follow the format of Postfix's
// TLSRPT_README: policy_type and policy_domain, one mx_host_pattern per
// pattern as published, one "{ policy_string = key: value }" per policy
// line, extensions included unless they would break the braces.
func TestTLSRPTAttributes(t *testing.T) {
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 604800, MX: []string{"mx1.example.com", "*.example.net"},
		Extensions: []policy.Extension{{Key: "x-note", Value: "hello world"}, {Key: "x-bad", Value: "a } b"}}}
	got := string(appendTLSRPT([]byte("OK secure match=mx1.example.com:.example.net servername=hostname"), "example.com", p))
	want := "OK secure match=mx1.example.com:.example.net servername=hostname" +
		" policy_type=sts policy_domain=example.com" +
		" mx_host_pattern=mx1.example.com mx_host_pattern=*.example.net" +
		" { policy_string = version: STSv1 } { policy_string = mode: enforce }" +
		" { policy_string = mx: mx1.example.com } { policy_string = mx: *.example.net }" +
		" { policy_string = max_age: 604800 } { policy_string = x-note: hello world }"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Without -tlsrpt the answer is exactly as before.
	s := &Server{Log: testLogger(t)}
	if got := string(s.policyReply("example.com", &resolver.Entry{Policy: p}, false, &answerBuf{})); got != "OK secure match=mx1.example.com:.example.net servername=hostname" {
		t.Errorf("without -tlsrpt: %q", got)
	}
	// A policy whose attributes would not fit keeps its OK answer.
	big := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 60}
	for i := range 2000 {
		big.MX = append(big.MX, "mx"+strings.Repeat("x", 20)+time.Duration(i).String()+".example.com")
	}
	s = &Server{Log: testLogger(t), TLSRPT: true}
	got = string(s.policyReply("example.com", &resolver.Entry{Policy: big}, false, &answerBuf{}))
	if !strings.HasPrefix(got, "OK secure match=") || strings.Contains(got, "policy_type") || len(got) > MaxReply {
		t.Errorf("large policy: %d bytes, %.80q", len(got), got)
	}
}

// TestOverridesFile covers the overrides file's syntax and errors.
func TestOverridesFile(t *testing.T) {
	m, err := parseOverrides(strings.NewReader("# comment\n\nExample.COM. skip\n  bücher.example   ENFORCE \nexample.com enforce\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["example.com"] != resolver.ForceEnforce || m["xn--bcher-kva.example"] != resolver.ForceEnforce {
		t.Errorf("got %v", m)
	}
	for _, bad := range []string{"example.com", "example.com skip now", "example.com maybe", "exa..mple skip", strings.Repeat("a", 5000) + " skip"} {
		_, err := parseOverrides(strings.NewReader("# ok\n" + bad + "\n"))
		var oe *OverridesError
		if !errors.As(err, &oe) || !errors.Is(err, ErrOverrides) || oe.Line != 2 {
			t.Errorf("%.40q: %v, want an *OverridesError on line 2 wrapping ErrOverrides", bad, err)
		}
	}
}

func FuzzParseOverrides(f *testing.F) {
	f.Add("example.com skip\n# c\nexample.net enforce\n")
	f.Add("EXAMPLE.com. Skip\r\n")
	f.Add("a b c\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseOverrides(strings.NewReader(s))
		if err != nil {
			if !errors.Is(err, ErrOverrides) {
				t.Fatalf("error not wrapping ErrOverrides: %v", err)
			}
			return
		}
		for d, o := range m {
			if n, err := resolver.Normalize(d); err != nil || n != d || (o != resolver.Skip && o != resolver.ForceEnforce) {
				t.Fatalf("bad entry %q %v", d, o)
			}
		}
	})
}

// TestMetricsAddress: -metrics must be loopback unless allowed.
func TestMetricsAddress(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:9100", false, true}, {"[::1]:9100", false, true}, {"localhost:9100", false, true},
		{"127.0.0.2:0", false, true}, {"0.0.0.0:9100", false, false}, {":9100", false, false},
		{"192.0.2.1:9100", false, false}, {"192.0.2.1:9100", true, true}, {"127.0.0.1", false, false},
	} {
		if err := checkMetricsAddr(tc.addr, tc.remote); (err == nil) != tc.ok {
			t.Errorf("%q remote=%v: %v", tc.addr, tc.remote, err)
		}
	}
}

// TestAdminLoopbackOnly: the admin endpoints refuse other clients, even
// on a listener that -metrics-allow-remote opened to them; metrics and
// health stay open.
func TestAdminLoopbackOnly(t *testing.T) {
	w := newWorld(t)
	r := newResolver(t, w)
	h := newHTTPHandler(NewMetrics(r.Cached, nil), r, testLogger(t))
	for _, tc := range []struct {
		method, path, remote string
		want                 int
	}{
		{"GET", "/admin/policies", "192.0.2.1:5555", http.StatusForbidden},
		{"POST", "/admin/purge/*", "192.0.2.1:5555", http.StatusForbidden},
		{"POST", "/admin/refresh/enforce.test", "[2001:db8::1]:5555", http.StatusForbidden},
		{"GET", "/metrics", "192.0.2.1:5555", http.StatusOK},
		{"GET", "/healthz", "192.0.2.1:5555", http.StatusOK},
		{"GET", "/admin/policies", "127.0.0.1:5555", http.StatusOK},
		{"POST", "/admin/purge/*", "[::1]:5555", http.StatusOK},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s from %s: %d, want %d", tc.method, tc.path, tc.remote, rec.Code, tc.want)
		}
	}
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("MTASTS_POSTFIX_FLOOR_ADDR"); addr != "" {
		// Run as the floor daemon of the load test (see floorServe).
		if os.Getenv("MTASTS_POSTFIX_FLOOR_EPOLL") != "" {
			os.Exit(floorServeEpoll(addr))
		}
		os.Exit(floorServe(addr))
	}
	code := m.Run()
	if runDir != "" {
		os.RemoveAll(runDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runDir is a directory for the whole test run (the built binary).
var runDir string

func tempDirForRun() (string, error) {
	dir, err := os.MkdirTemp("", "mtasts-postfix-test-")
	runDir = dir
	return dir, err
}

// tempPrefix is what every TEMP reply for a failed TXT lookup begins with.
const tempPrefix = "TEMP MTA-STS: dns: TXT lookup of _mta-sts."

// replyMatches reports whether got is want, or, for a want ending in "*",
// begins with the rest of want.
func replyMatches(got, want string) bool {
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, p) && len(got) > len(p) && len(got) <= len("TEMP ")+maxReason && !strings.ContainsAny(got, "\r\n")
	}
	return got == want
}

const enforceReply = "OK secure match=mx1.enforce.test:.mx.enforce.test servername=hostname"

// newWorld starts a loopback world with one domain per kind of answer.
func newWorld(t testing.TB) *testserver.World {
	t.Helper()
	w := testserver.Start(t)
	add := func(d string, p testserver.Policy) {
		t.Helper()
		cmdtest.AddDomain(t, w, d, p)
	}
	add("enforce.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.test", "*.mx.enforce.test"}, MaxAge: 86400})
	add("testing.test", testserver.Policy{Mode: "testing", MX: []string{"mx.testing.test", "*.testing.test"}, MaxAge: 86400})
	add("none.test", testserver.Policy{Mode: "none", MaxAge: 86400})
	add("broken.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.broken.test"}, MaxAge: 86400})
	w.Fault("mta-sts.broken.test", testserver.Status(500))
	add("invalid.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.invalid.test"}, MaxAge: 86400})
	w.SetPolicyBody("invalid.test", "version: STSv1\nmode: strict\nmx: mx.invalid.test\nmax_age: 86400\n")
	add("servfail.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.servfail.test"}, MaxAge: 86400})
	w.Fault("_mta-sts.servfail.test", testserver.ServFail)
	add("refused.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.refused.test"}, MaxAge: 86400})
	w.Fault("_mta-sts.refused.test", testserver.Refused)
	w.SetMX("plain.test", "mx.plain.test")
	return w
}

// newResolver returns a resolver on w, closed at the end of the test.
func newResolver(t testing.TB, w *testserver.World) *resolver.Resolver {
	t.Helper()
	r, err := resolver.New(resolver.Options{
		DNS: []string{w.DNSAddr()}, RootCAs: w.RootCAs(), HTTPSPort: w.HTTPSPort(),
		FetchTimeout: 5 * time.Second, DNSTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// testLogger logs to the test, at debug level.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// serve runs s on a loopback port until the end of the test and returns
// the address.
func serve(t testing.TB, s *Server) string {
	t.Helper()
	return serveOn(t, "tcp", "127.0.0.1:0", s)
}

// serveOn is serve on another network, "tcp" or "unix".
func serveOn(t testing.TB, network, addr string, s *Server) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return ln.Addr().String()
}

// client is a socketmap client of one connection.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func netstring(s string) string { return strconv.Itoa(len(s)) + ":" + s + "," }

func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, raw); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one netstring reply.
func (c *client) read() (string, error) {
	buf := make([]byte, MaxReply+1)
	p, err := readNetstring(c.br, buf, MaxReply)
	return string(p), err
}

// query sends one request and returns the reply.
func (c *client) query(req string) string {
	c.t.Helper()
	c.send(netstring(req))
	reply, err := c.read()
	if err != nil {
		c.t.Fatalf("%q: %v", req, err)
	}
	return reply
}

// closed reports whether the server closes the connection without
// another reply.
func (c *client) closed() bool {
	c.t.Helper()
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Errorf("got %q, want the connection closed", b)
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset")
}

// TestAnswers checks every answer of the reply table.
func TestAnswers(t *testing.T) {
	w := newWorld(t)
	r := newResolver(t, w)
	plain := dial(t, serve(t, &Server{Lookuper: r, Log: testLogger(t)}))
	strict := dial(t, serve(t, &Server{Lookuper: r, Log: testLogger(t), StrictTesting: true, Map: "sts"}))
	for _, tc := range []struct {
		name, req, want, wantStrict string // wantStrict "" means want
	}{
		{"enforce", "enforce.test", enforceReply, ""},
		{"enforce_upper_case_trailing_dot", "EnForce.TEST.", enforceReply, ""},
		{"testing", "testing.test", "NOTFOUND ", "OK secure match=mx.testing.test:.testing.test servername=hostname"},
		{"none", "none.test", "NOTFOUND ", ""},
		{"no_record", "plain.test", "NOTFOUND ", ""},
		{"no_such_domain", "nxdomain.test", "NOTFOUND ", ""},
		{"https_failure", "broken.test", "NOTFOUND ", ""},
		{"invalid_policy", "invalid.test", "NOTFOUND ", ""},
		{"txt_servfail", "servfail.test", tempPrefix + "servfail.test*", ""},
		{"txt_refused", "refused.test", tempPrefix + "refused.test*", ""},
		{"key_ipv4_literal", "[192.0.2.1]", "NOTFOUND ", ""},
		{"key_ipv4", "192.0.2.1", "NOTFOUND ", ""},
		{"key_ipv6_literal", "[ipv6:2001:db8::1]", "NOTFOUND ", ""},
		{"key_bracketed_host_port", "[enforce.test]:587", enforceReply, ""},
		{"key_bracketed_host", "[enforce.test]", enforceReply, ""},
		{"key_host_port", "enforce.test:25", enforceReply, ""},
		{"key_parent_pattern", ".enforce.test", "NOTFOUND ", ""},
		{"key_empty", "", "NOTFOUND ", ""},
		{"key_empty_label", "enforce..test", "NOTFOUND ", ""},
		{"key_single_label", "localhost", "NOTFOUND ", ""},
		{"key_space", "enforce.test x", "NOTFOUND ", ""},
		{"key_address", "user@enforce.test", "NOTFOUND ", ""},
		{"key_too_long_label", strings.Repeat("a", 64) + ".test", "NOTFOUND ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plain.query("postfix " + tc.req); !replyMatches(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			want := tc.want
			if tc.wantStrict != "" {
				want = tc.wantStrict
			}
			if got := strict.query("sts " + tc.req); !replyMatches(got, want) {
				t.Errorf("-strict-testing -map sts: got %q, want %q", got, want)
			}
		})
	}
	t.Run("other_map_name_answered", func(t *testing.T) {
		for _, req := range []string{"other enforce.test", "sts enforce.test", "Postfix enforce.test", " enforce.test"} {
			if got := plain.query(req); got != enforceReply {
				t.Errorf("%q: got %q, want the answer for enforce.test", req, got)
			}
		}
		if got := plain.query("postfix\tenforce.test"); got != "NOTFOUND " {
			t.Errorf("a tab instead of a space: got %q, want NOTFOUND", got)
		}
		if got := plain.query("postfix"); got != "NOTFOUND " {
			t.Errorf("map name alone: got %q, want NOTFOUND with its space", got)
		}
	})
}

// TestCachedPolicySurvivesFailures: once a policy is cached, failures of
// the TXT lookup or of the fetch do not change the answer (RFC 8461
// section 3.3), and TEMP is only for "nothing cached".
func TestCachedPolicySurvivesFailures(t *testing.T) {
	w := newWorld(t)
	c := dial(t, serve(t, &Server{Lookuper: newResolver(t, w), Log: testLogger(t)}))
	if got := c.query("postfix enforce.test"); got != enforceReply {
		t.Fatalf("got %q", got)
	}
	w.Fault("_mta-sts.enforce.test", testserver.ServFail)
	w.Fault("mta-sts.enforce.test", testserver.Status(500))
	for range 3 {
		if got := c.query("postfix enforce.test"); got != enforceReply {
			t.Fatalf("with failures: got %q", got)
		}
	}
}

// TestFraming covers the netstring framing: pipelined requests, requests
// split across writes, and the malformed or oversized requests that close
// the connection (after the replies to the requests before them).
func TestFraming(t *testing.T) {
	w := newWorld(t)
	addr := serve(t, &Server{Lookuper: newResolver(t, w), Log: testLogger(t)})

	t.Run("sequential", func(t *testing.T) {
		c := dial(t, addr)
		for i := range 50 {
			req, want := "postfix enforce.test", enforceReply
			if i%2 == 1 {
				req, want = "postfix none.test", "NOTFOUND "
			}
			if got := c.query(req); got != want {
				t.Fatalf("request %d: got %q, want %q", i, got, want)
			}
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		c := dial(t, addr)
		c.send(netstring("postfix enforce.test") + netstring("postfix none.test") + netstring("x y") + netstring("postfix enforce.test"))
		for i, want := range []string{enforceReply, "NOTFOUND ", "NOTFOUND ", enforceReply} {
			got, err := c.read()
			if err != nil || got != want {
				t.Fatalf("reply %d: got %q, %v; want %q", i, got, err, want)
			}
		}
	})
	t.Run("pipelined_partial", func(t *testing.T) {
		// The reply to a whole request is sent even though the next one
		// has begun: a client may wait for it before sending the rest.
		c := dial(t, addr)
		next := netstring("postfix none.test")
		c.send(netstring("postfix enforce.test") + next[:5])
		if got, err := c.read(); err != nil || got != enforceReply {
			t.Fatalf("got %q, %v", got, err)
		}
		c.send(next[5:])
		if got, err := c.read(); err != nil || got != "NOTFOUND " {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("byte_by_byte", func(t *testing.T) {
		c := dial(t, addr)
		for _, b := range []byte(netstring("postfix enforce.test")) {
			c.send(string(b))
			time.Sleep(time.Millisecond)
		}
		if got, err := c.read(); err != nil || got != enforceReply {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("longest_request", func(t *testing.T) {
		c := dial(t, addr)
		req := "postfix " + strings.Repeat("a", MaxRequest-len("postfix "))
		if got := c.query(req); got != "NOTFOUND " {
			t.Fatalf("got %q", got)
		}
	})
	for _, tc := range []struct{ name, raw string }{
		{"oversized", strconv.Itoa(MaxRequest+1) + ":postfix " + strings.Repeat("a", MaxRequest-7) + ","},
		{"oversized_length_only", "99999999999999999999999:"},
		{"no_length", ":postfix enforce.test,"},
		{"not_a_length", "2x:ab,"},
		{"leading_zero", "020:postfix enforce.test,"},
		{"negative", "-1:,"},
		{"space_in_length", " 20:postfix enforce.test,"},
		{"bad_terminator", "20:postfix enforce.test;"},
		{"short_length", "19:postfix enforce.test,"},
		{"newline_protocol", "postfix enforce.test\n"},
	} {
		t.Run("malformed_"+tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(netstring("postfix enforce.test") + tc.raw)
			if got, err := c.read(); err != nil || got != enforceReply {
				t.Fatalf("reply before the bad request: got %q, %v", got, err)
			}
			if !c.closed() {
				t.Error("connection not closed")
			}
		})
	}
	t.Run("eof_inside_request", func(t *testing.T) {
		c := dial(t, addr)
		c.send("20:postfix enf")
		c.nc.(*net.TCPConn).CloseWrite()
		if !c.closed() {
			t.Error("connection not closed")
		}
	})
	t.Run("empty_request", func(t *testing.T) {
		c := dial(t, addr)
		if got := c.query(""); got != "NOTFOUND " {
			t.Fatalf("got %q", got)
		}
	})
}

// TestTimeouts: an idle connection, and a request that does not arrive
// whole, are closed.
func TestTimeouts(t *testing.T) {
	w := newWorld(t)
	addr := serve(t, &Server{Lookuper: newResolver(t, w), Log: testLogger(t),
		IdleTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	t.Run("idle", func(t *testing.T) {
		c := dial(t, addr)
		if got := c.query("postfix enforce.test"); got != enforceReply {
			t.Fatalf("got %q", got)
		}
		start := time.Now()
		if !c.closed() {
			t.Fatal("not closed")
		}
		if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
			t.Errorf("closed after %v, want about 200ms", d)
		}
	})
	t.Run("slow_request", func(t *testing.T) {
		c := dial(t, addr)
		c.send("20:postfix")
		if !c.closed() {
			t.Fatal("not closed")
		}
	})
}

// TestConcurrentConnections runs many clients at once, each with several
// requests, every answer checked.
func TestConcurrentConnections(t *testing.T) {
	w := newWorld(t)
	addr := serve(t, &Server{Lookuper: newResolver(t, w), Log: testLogger(t)})
	const conns, reqs = 200, 20
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Go(func() {
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(nc)
			buf := make([]byte, MaxReply)
			for j := range reqs {
				req, want := "postfix enforce.test", enforceReply
				switch (i + j) % 4 {
				case 1:
					req, want = "postfix testing.test", "NOTFOUND "
				case 2:
					req, want = "postfix servfail.test", tempPrefix+"servfail.test*"
				case 3:
					req, want = "postfix [192.0.2.1]", "NOTFOUND "
				}
				if _, err := io.WriteString(nc, netstring(req)); err != nil {
					errs <- err
					return
				}
				p, err := readNetstring(br, buf, MaxReply)
				if err != nil || !replyMatches(string(p), want) {
					errs <- fmt.Errorf("conn %d request %d %q: got %q, %v; want %q", i, j, req, p, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestMaxConns: a connection beyond MaxConns is closed at once, and the
// ones within it are served.
func TestMaxConns(t *testing.T) {
	w := newWorld(t)
	addr := serve(t, &Server{Lookuper: newResolver(t, w), Log: testLogger(t), MaxConns: 2})
	a, b := dial(t, addr), dial(t, addr)
	// Wait for both to be accepted and counted.
	for _, c := range []*client{a, b} {
		if got := c.query("postfix enforce.test"); got != enforceReply {
			t.Fatalf("got %q", got)
		}
	}
	extra := dial(t, addr)
	extra.send(netstring("postfix enforce.test"))
	if !extra.closed() {
		t.Error("third connection served")
	}
	a.nc.Close()
	// The slot frees once the server sees a's end: retry for a while.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial(t, addr)
		c.send(netstring("postfix enforce.test"))
		if got, err := c.read(); err == nil && got == enforceReply {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection served after one closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShutdown: when ctx is done, Serve closes idle connections and
// returns.
func TestShutdown(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := &Server{Lookuper: newResolver(t, w), Log: testLogger(t)}
	go func() { done <- s.Serve(ctx, ln) }()
	c := dial(t, ln.Addr().String())
	if got := c.query("postfix enforce.test"); got != enforceReply {
		t.Fatalf("got %q", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if !c.closed() {
		t.Error("idle connection left open")
	}
	if nc, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		nc.Close()
		t.Error("listener still open")
	}
}

// TestKeywordPatternsLeftOut: an exact mx pattern of one label would be a
// Postfix keyword in match= ("hostname" accepts any certificate valid for
// the MX name DNS gave): it is left out, and a policy of nothing else
// defers.
func TestKeywordPatternsLeftOut(t *testing.T) {
	s := &Server{Log: testLogger(t)}
	for _, tc := range []struct {
		mx   []string
		want string
	}{
		{[]string{"hostname", "mx.example.test", "dot-nexthop"}, "OK secure match=mx.example.test servername=hostname"},
		{[]string{"*.com", "nexthop"}, "OK secure match=.com servername=hostname"},
		{[]string{"hostname"}, string(replyNoMatch)},
	} {
		p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 60, MX: tc.mx}
		if got := string(s.policyReply("example.test", &resolver.Entry{Policy: p}, false, &answerBuf{})); got != tc.want {
			t.Errorf("mx %q: got %q, want %q", tc.mx, got, tc.want)
		}
	}
}

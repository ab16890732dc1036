package validate

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/testca"
	"github.com/mtasts-go/mtasts/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// reports records what Options.Report receives.
type reports struct {
	mu   sync.Mutex
	errs []error
}

func (r *reports) report(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *reports) get() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// handshake runs one TLS handshake over loopback between a server with
// config server and a client with config client. It returns the
// negotiated version, the SNI the server saw, and the client's handshake
// error.
func handshake(t *testing.T, server, client *tls.Config) (version uint16, sni string, err error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	server = server.Clone()
	snis := make(chan string, 1)
	server.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		snis <- h.ServerName
		return nil, nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_ = tls.Server(conn, server).Handshake() // the client's verdict is what counts
	}()
	defer wg.Wait()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(conn, client)
	err = c.Handshake()
	select {
	case sni = <-snis:
	default:
	}
	return c.ConnectionState().Version, sni, err
}

// TestTLSHandshake exercises TLSConfig and VerifyConnection end to end, in
// real handshakes over loopback, under each mode (RFC 8461 section 5).
func TestTLSHandshake(t *testing.T) {
	root := testca.NewRoot(t, testca.Spec{CN: "Root"})
	other := testca.NewRoot(t, testca.Spec{CN: "Other"})
	inter := root.Intermediate(t, testca.Spec{CN: "Intermediate"})
	server := func(ca *testca.CA, s testca.Spec, chain ...*x509.Certificate) *tls.Config {
		leaf, key := ca.Leaf(t, s)
		return &tls.Config{Certificates: []tls.Certificate{testca.TLSCert(key, append([]*x509.Certificate{leaf}, chain...)...)}}
	}
	names := func(n ...string) testca.Spec { return testca.Spec{DNSNames: n} }
	good := server(root, names("mx1.example.com"))
	wrongHost := server(root, names("mx2.example.com"))
	expired := server(root, testca.Spec{DNSNames: []string{"mx1.example.com"}, NotAfter: testNow.AddDate(0, 0, -1)})
	untrusted := server(other, names("mx1.example.com"))
	viaInter := server(inter, names("*.example.com"), inter.Cert)
	idn := server(root, names("mx.xn--bcher-kva.example"))
	oldTLS := good.Clone()
	oldTLS.MinVersion, oldTLS.MaxVersion = tls.VersionTLS10, tls.VersionTLS11

	enforce := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400, MX: []string{"*.example.com", "mx.xn--bcher-kva.example"}}
	testing_ := &policy.Policy{Mode: policy.ModeTesting, MaxAge: 86400, MX: enforce.MX}
	none := &policy.Policy{Mode: policy.ModeNone, MaxAge: 86400}
	badMode := &policy.Policy{MX: enforce.MX}
	otherMX := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400, MX: []string{"mx.example.net"}}

	opportunistic := &tls.Config{InsecureSkipVerify: true}
	oldBase := &tls.Config{MinVersion: tls.VersionTLS10}
	baseRoots := &tls.Config{RootCAs: root.Pool(), Time: func() time.Time { return testNow }}

	tests := []struct {
		name       string
		p          *policy.Policy
		host       string
		server     *tls.Config
		base       *tls.Config
		wantErr    error // sentinel in the handshake error; nil for success
		wantResult ResultType
		wantReport error // sentinel reported; nil for a success report
		reported   bool  // whether Report is called at all
		wantSNI    string
	}{
		{"enforce_valid", enforce, "mx1.example.com", good, nil, nil, "", nil, true, "mx1.example.com"},
		{"enforce_valid_trailing_dot_sni", enforce, "MX1.Example.com.", good, nil, nil, "", nil, true, "mx1.example.com"},
		{"enforce_intermediate_chain", enforce, "mx1.example.com", viaInter, nil, nil, "", nil, true, "mx1.example.com"},
		{"enforce_idn_host", enforce, "mx.bücher.example", idn, nil, nil, "", nil, true, "mx.xn--bcher-kva.example"},
		{"enforce_roots_and_clock_from_base", enforce, "mx1.example.com", good, baseRoots, nil, "", nil, true, "mx1.example.com"},
		{"enforce_wrong_host_fails", enforce, "mx1.example.com", wrongHost, nil, ErrHostMismatch, ResultCertificateHostMismatch, ErrHostMismatch, true, "mx1.example.com"},
		{"enforce_expired_fails", enforce, "mx1.example.com", expired, nil, ErrExpired, ResultCertificateExpired, ErrExpired, true, "mx1.example.com"},
		{"enforce_untrusted_fails", enforce, "mx1.example.com", untrusted, nil, ErrNotTrusted, ResultCertificateNotTrusted, ErrNotTrusted, true, "mx1.example.com"},
		{"enforce_mx_not_in_policy_fails", otherMX, "mx1.example.com", good, nil, ErrMXMismatch, ResultValidationFailure, ErrMXMismatch, true, "mx1.example.com"},
		{"enforce_old_tls_refused", enforce, "mx1.example.com", oldTLS, oldBase, errors.New("any"), ResultValidationFailure, nil, false, "mx1.example.com"},
		{"invalid_mode_enforces", badMode, "mx1.example.com", untrusted, nil, ErrNotTrusted, ResultCertificateNotTrusted, ErrNotTrusted, true, "mx1.example.com"},
		{"testing_valid", testing_, "mx1.example.com", good, nil, nil, "", nil, true, "mx1.example.com"},
		{"testing_wrong_host_proceeds", testing_, "mx1.example.com", wrongHost, nil, nil, "", ErrHostMismatch, true, "mx1.example.com"},
		{"testing_expired_proceeds", testing_, "mx1.example.com", expired, nil, nil, "", ErrExpired, true, "mx1.example.com"},
		{"testing_untrusted_proceeds", testing_, "mx1.example.com", untrusted, nil, nil, "", ErrNotTrusted, true, "mx1.example.com"},
		{"testing_old_tls_proceeds", testing_, "mx1.example.com", oldTLS, oldBase, nil, "", ErrTLSVersion, true, "mx1.example.com"},
		{"none_untrusted_opportunistic", none, "mx1.example.com", untrusted, opportunistic, nil, "", nil, false, "mx1.example.com"},
		{"no_policy_untrusted_opportunistic", nil, "mx1.example.com", untrusted, opportunistic, nil, "", nil, false, "mx1.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reports
			opts := Options{Report: r.report}
			if tt.base != baseRoots {
				opts.Roots = root.Pool()
				opts.Clock = func() time.Time { return testNow }
			}
			cfg := TLSConfig(tt.p, tt.host, tt.base, opts)
			version, sni, err := handshake(t, tt.server, cfg)

			if sni != tt.wantSNI {
				t.Errorf("server saw SNI %q, want %q", sni, tt.wantSNI)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("handshake: %v, want success", err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("handshake succeeded, want %v", tt.wantErr)
			case tt.wantErr != nil && tt.reported && !errors.Is(err, tt.wantErr):
				t.Fatalf("handshake: %v, want %v", err, tt.wantErr)
			}
			if got := ResultOf(err); got != tt.wantResult {
				t.Errorf("ResultOf(handshake error) = %q, want %q", got, tt.wantResult)
			}
			if err == nil && tt.p != nil && tt.p.Mode == policy.ModeEnforce && version < tls.VersionTLS12 {
				t.Errorf("enforce negotiated version %x", version)
			}

			got := r.get()
			if !tt.reported {
				if len(got) != 0 {
					t.Errorf("Report called %d times, want none", len(got))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("Report called %d times, want once", len(got))
			}
			if (got[0] == nil) != (tt.wantReport == nil) || !errors.Is(got[0], tt.wantReport) {
				t.Errorf("reported %v, want %v", got[0], tt.wantReport)
			}
			var e *Error
			if got[0] != nil && (!errors.As(got[0], &e) || e.Host != tt.host) {
				t.Errorf("reported %#v, want *Error with Host %q", got[0], tt.host)
			}
			if tt.wantErr != nil && tt.reported && got[0] != nil && !errors.Is(err, got[0]) {
				t.Errorf("handshake error %v is not the reported %v", err, got[0])
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	enforce := &policy.Policy{Mode: policy.ModeEnforce, MX: []string{"mx.example.com"}}
	testing_ := &policy.Policy{Mode: policy.ModeTesting, MX: []string{"mx.example.com"}}
	none := &policy.Policy{Mode: policy.ModeNone}
	tests := []struct {
		name       string
		p          *policy.Policy
		host       string
		base       *tls.Config
		serverName string
		minVersion uint16
		insecure   bool
		verify     bool
	}{
		{"nil_base", enforce, "mx.example.com", nil, "mx.example.com", tls.VersionTLS12, true, true},
		{"server_name_canonical", enforce, "MX.Example.COM.", nil, "mx.example.com", tls.VersionTLS12, true, true},
		{"server_name_a_label", enforce, "mx.Bücher.example", nil, "mx.xn--bcher-kva.example", tls.VersionTLS12, true, true},
		{"server_name_replaces_base", enforce, "mx.example.com", &tls.Config{ServerName: "other"}, "mx.example.com", tls.VersionTLS12, true, true},
		{"enforce_raises_min_version", enforce, "mx.example.com", &tls.Config{MinVersion: tls.VersionTLS10}, "mx.example.com", tls.VersionTLS12, true, true},
		{"enforce_keeps_tls13", enforce, "mx.example.com", &tls.Config{MinVersion: tls.VersionTLS13}, "mx.example.com", tls.VersionTLS13, true, true},
		{"testing_sets_unset_min_version", testing_, "mx.example.com", &tls.Config{}, "mx.example.com", tls.VersionTLS12, true, true},
		{"testing_keeps_explicit_old_version", testing_, "mx.example.com", &tls.Config{MinVersion: tls.VersionTLS10}, "mx.example.com", tls.VersionTLS10, true, true},
		{"none_keeps_base", none, "mx.example.com", &tls.Config{MinVersion: tls.VersionTLS10}, "mx.example.com", tls.VersionTLS10, false, false},
		{"no_policy_keeps_base", nil, "mx.example.com", &tls.Config{InsecureSkipVerify: true}, "mx.example.com", 0, true, false},
		{"invalid_host_fails_later", enforce, "mx..example.com.", nil, "mx..example.com", tls.VersionTLS12, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before tls.Config
			if tt.base != nil {
				before = *tt.base.Clone()
			}
			c := TLSConfig(tt.p, tt.host, tt.base, Options{})
			if c == tt.base {
				t.Fatal("TLSConfig returned base itself")
			}
			if c.ServerName != tt.serverName || c.MinVersion != tt.minVersion ||
				c.InsecureSkipVerify != tt.insecure || (c.VerifyConnection != nil) != tt.verify {
				t.Errorf("ServerName %q, MinVersion %x, InsecureSkipVerify %v, VerifyConnection set %v; want %q, %x, %v, %v",
					c.ServerName, c.MinVersion, c.InsecureSkipVerify, c.VerifyConnection != nil,
					tt.serverName, tt.minVersion, tt.insecure, tt.verify)
			}
			if tt.base != nil && (tt.base.ServerName != before.ServerName || tt.base.MinVersion != before.MinVersion ||
				tt.base.InsecureSkipVerify != before.InsecureSkipVerify || tt.base.VerifyConnection != nil) {
				t.Error("TLSConfig modified base")
			}
		})
	}
}

// TestTLSConfigChainsBaseVerifyConnection checks that a VerifyConnection of
// the base configuration runs after the policy's check.
func TestTLSConfigChainsBaseVerifyConnection(t *testing.T) {
	root := testca.NewRoot(t, testca.Spec{CN: "Root"})
	leaf, _ := root.Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}})
	bad, _ := testca.NewRoot(t, testca.Spec{CN: "Other"}).Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}})
	errBase := errors.New("base says no")
	var baseCalls int
	base := &tls.Config{VerifyConnection: func(tls.ConnectionState) error { baseCalls++; return errBase }}
	opts := Options{Roots: root.Pool(), Clock: func() time.Time { return testNow }}
	cs := func(c *x509.Certificate) tls.ConnectionState {
		return tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{c}}
	}
	enforce := &policy.Policy{Mode: policy.ModeEnforce, MX: []string{"mx.example.com"}}
	testing_ := &policy.Policy{Mode: policy.ModeTesting, MX: []string{"mx.example.com"}}

	if err := TLSConfig(enforce, "mx.example.com", base, opts).VerifyConnection(cs(leaf)); err != errBase || baseCalls != 1 {
		t.Errorf("enforce, valid: %v after %d base calls, want the base's error after 1", err, baseCalls)
	}
	if err := TLSConfig(enforce, "mx.example.com", base, opts).VerifyConnection(cs(bad)); !errors.Is(err, ErrNotTrusted) || baseCalls != 1 {
		t.Errorf("enforce, untrusted: %v after %d base calls, want ErrNotTrusted, base not called", err, baseCalls)
	}
	if err := TLSConfig(testing_, "mx.example.com", base, opts).VerifyConnection(cs(bad)); err != errBase || baseCalls != 2 {
		t.Errorf("testing, untrusted: %v after %d base calls, want the base's error after 2", err, baseCalls)
	}
}

// TestVerifyConnectionConcurrent runs one verifier from many goroutines, for
// the race detector.
func TestVerifyConnectionConcurrent(t *testing.T) {
	root := testca.NewRoot(t, testca.Spec{CN: "Root"})
	leaf, _ := root.Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}})
	wrong, _ := root.Leaf(t, testca.Spec{DNSNames: []string{"other.example.com"}})
	var r reports
	p := &policy.Policy{Mode: policy.ModeEnforce, MX: []string{"*.example.com"}}
	verify := VerifyConnection(p, "mx.example.com", Options{Roots: root.Pool(), Clock: func() time.Time { return testNow }, Report: r.report})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := leaf
			if i%2 == 1 {
				c = wrong
			}
			for range 20 {
				err := verify(tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{c}})
				if (err == nil) != (i%2 == 0) {
					t.Errorf("goroutine %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(r.get()); n != 160 {
		t.Errorf("%d reports, want 160", n)
	}
}

func TestVerifyConnectionNone(t *testing.T) {
	var r reports
	for _, p := range []*policy.Policy{nil, {Mode: policy.ModeNone}} {
		verify := VerifyConnection(p, "mx.example.com", Options{Report: r.report})
		if err := verify(tls.ConnectionState{}); err != nil {
			t.Errorf("mode none: %v", err)
		}
	}
	if n := len(r.get()); n != 0 {
		t.Errorf("mode none reported %d times", n)
	}
}

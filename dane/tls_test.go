package dane

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/testca"
	"github.com/mtasts-go/mtasts/validate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tlsServer is a TLS server on 127.0.0.1 that presents one chain and
// records the SNI of each handshake.
type tlsServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	snis []string
}

func startTLSServer(t *testing.T, cert tls.Certificate, maxVersion uint16) *tlsServer {
	t.Helper()
	s := &tlsServer{}
	cfg := &tls.Config{
		MaxVersion: maxVersion,
		MinVersion: tls.VersionTLS10,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			s.mu.Lock()
			s.snis = append(s.snis, hello.ServerName)
			s.mu.Unlock()
			return &cert, nil
		},
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					c.Write([]byte("220 ok\r\n"))
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *tlsServer) lastSNI() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.snis) == 0 {
		return ""
	}
	return s.snis[len(s.snis)-1]
}

// dial connects to s with cfg and completes the handshake (reading the
// server's first line, so that a TLS 1.3 server's verdict is seen too).
func (s *tlsServer) dial(t *testing.T, cfg *tls.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", s.ln.Addr().String())
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 8)
	// A close_notify right behind the line comes back with it, as EOF.
	if n, err := c.Read(buf); n == 0 && err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// TestTLSConfig_handshake runs real handshakes on loopback with the
// configuration of TLSConfig: the verdict, the SNI, the report.
func TestTLSConfig_handshake(t *testing.T) {
	p := newPKI(t)
	leaf, leafKey := p.inter.Leaf(t, testca.Spec{CN: "mx.example.com", DNSNames: []string{"mx.example.com"}})
	expired, expiredKey := p.inter.Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}, NotBefore: longAgo, NotAfter: lastYear})
	ss, ssKey := testca.SelfSigned(t, testca.Spec{CN: "self"})
	type server struct {
		key   *ecdsa.PrivateKey
		chain []*x509.Certificate
	}
	good := server{leafKey, chain(leaf, p.inter.Cert, p.root.Cert)}
	for _, c := range []struct {
		name    string
		srv     server
		maxVer  uint16
		base    string
		names   []string
		records []Record
		want    error // nil: the handshake succeeds
		report  error // what Report receives; nil: nil
	}{
		{"dane_ee_spki_sha256", good, 0, "mx.example.com", nil, []Record{rec(DANEEE, SPKI, SHA256, leaf)}, nil, nil},
		{"dane_ee_self_signed_tls12", server{ssKey, chain(ss)}, tls.VersionTLS12, "mx.example.com", nil,
			[]Record{rec(DANEEE, Cert, SHA512, ss)}, nil, nil},
		{"dane_ee_expired_no_name", server{expiredKey, chain(expired)}, 0, "mx.other.example", nil,
			[]Record{rec(DANEEE, SPKI, Full, expired)}, nil, nil},
		{"dane_ta_root", good, 0, "mx.example.com", nil, []Record{rec(DANETA, Cert, SHA256, p.root.Cert)}, nil, nil},
		{"dane_ta_key_not_sent", server{leafKey, chain(leaf, p.inter.Cert)}, 0, "mx.example.com", nil,
			[]Record{rec(DANETA, SPKI, Full, p.root.Cert)}, nil, nil},
		{"dane_ta_cname_base", good, 0, "mx.hosting.example", []string{"mx.example.com"},
			[]Record{rec(DANETA, Cert, SHA256, p.root.Cert)}, nil, nil},
		{"dane_ta_wrong_name", good, 0, "mx.hosting.example", nil,
			[]Record{rec(DANETA, Cert, SHA256, p.root.Cert)}, validate.ErrHostMismatch, validate.ErrHostMismatch},
		{"dane_ta_expired", server{expiredKey, chain(expired, p.inter.Cert, p.root.Cert)}, 0, "mx.example.com", nil,
			[]Record{rec(DANETA, Cert, SHA256, p.root.Cert)}, validate.ErrExpired, validate.ErrExpired},
		{"no_match", good, 0, "mx.example.com", nil,
			[]Record{rec(DANEEE, SPKI, SHA256, ss)}, ErrNoMatch, ErrNoMatch},
		{"unusable_rrset_unauthenticated_tls", server{ssKey, chain(ss)}, 0, "mx.example.com", nil,
			[]Record{rec(PKIXEE, SPKI, SHA256, leaf)}, nil, ErrNoUsableRecords},
		{"tls11_refused", good, tls.VersionTLS11, "mx.example.com", nil,
			[]Record{rec(DANEEE, SPKI, SHA256, leaf)}, errAny, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startTLSServer(t, testca.TLSCert(c.srv.key, c.srv.chain...), c.maxVer)
			s := mustSet(t, c.base, c.records...)
			var mu sync.Mutex
			var reports []error
			base := &tls.Config{Time: func() time.Time { return testNow }, RootCAs: x509.NewCertPool()}
			cfg := TLSConfig(s, base, Options{Names: c.names, Report: func(err error) {
				mu.Lock()
				reports = append(reports, err)
				mu.Unlock()
			}})
			if cfg.ServerName != s.Base() || !cfg.InsecureSkipVerify || cfg.MinVersion != tls.VersionTLS12 {
				t.Fatalf("config: ServerName %q, InsecureSkipVerify %v, MinVersion %x", cfg.ServerName, cfg.InsecureSkipVerify, cfg.MinVersion)
			}
			err := srv.dial(t, cfg)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("handshake: %v", err)
			case c.want == errAny:
				if err == nil {
					t.Fatal("handshake succeeded")
				}
			case c.want != nil:
				var e *validate.Error
				if !errors.Is(err, c.want) || !errors.As(err, &e) {
					t.Fatalf("handshake: %v, want %v", err, c.want)
				}
			}
			if c.want != errAny && srv.lastSNI() != s.Base() {
				t.Errorf("SNI %q, want %q", srv.lastSNI(), s.Base())
			}
			mu.Lock()
			defer mu.Unlock()
			if c.want == errAny {
				if len(reports) != 0 {
					t.Errorf("reports %v for a handshake that never reached the certificate", reports)
				}
				return
			}
			if len(reports) != 1 || (c.report == nil) != (reports[0] == nil) || c.report != nil && !errors.Is(reports[0], c.report) {
				t.Errorf("reports %v, want [%v]", reports, c.report)
			}
		})
	}
}

var errAny = errors.New("any error")

// A VerifyConnection of the base configuration runs after DANE has passed,
// and not when it failed.
func TestTLSConfig_base_verify_connection(t *testing.T) {
	p := newPKI(t)
	leaf, key := p.inter.Leaf(t, testca.Spec{DNSNames: []string{"mx.example.com"}})
	srv := startTLSServer(t, testca.TLSCert(key, leaf, p.inter.Cert), 0)
	called := 0
	baseErr := errors.New("base says no")
	base := &tls.Config{VerifyConnection: func(tls.ConnectionState) error { called++; return baseErr }}
	ok := mustSet(t, "mx.example.com", rec(DANEEE, SPKI, SHA256, leaf))
	if err := srv.dial(t, TLSConfig(ok, base, Options{})); !errors.Is(err, baseErr) || called != 1 {
		t.Errorf("DANE passes: %v, base called %d times", err, called)
	}
	bad := mustSet(t, "mx.example.com", rec(DANEEE, SPKI, SHA256, p.root.Cert))
	if err := srv.dial(t, TLSConfig(bad, base, Options{})); !errors.Is(err, ErrNoMatch) || called != 1 {
		t.Errorf("DANE fails: %v, base called %d times", err, called)
	}
}

// The mistakes of a caller fail every handshake rather than pass it.
func TestVerifyConnection_fails_closed(t *testing.T) {
	p := newPKI(t)
	cs := tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: chain(p.leaf)}
	if err := VerifyConnection(nil, Options{})(cs); !errors.Is(err, ErrNoUsableRecords) {
		t.Errorf("nil Set: %v", err)
	}
	s := mustSet(t, "mx.example.com", rec(DANEEE, SPKI, SHA256, p.leaf))
	if err := VerifyConnection(s, Options{Names: []string{"-bad-"}})(cs); !errors.Is(err, ErrInvalidName) {
		t.Errorf("invalid name: %v", err)
	}
	if err := VerifyConnection(s, Options{})(cs); err != nil {
		t.Errorf("good: %v", err)
	}
	cs.Version = tls.VersionTLS11
	if err := VerifyConnection(s, Options{})(cs); !errors.Is(err, validate.ErrTLSVersion) {
		t.Errorf("TLS 1.1: %v", err)
	}
	unusable := mustSet(t, "mx.example.com")
	if err := VerifyConnection(unusable, Options{})(cs); !errors.Is(err, validate.ErrTLSVersion) {
		t.Errorf("TLS 1.1 without usable records: %v", err)
	}
	if cfg := TLSConfig(nil, nil, Options{}); !cfg.InsecureSkipVerify || cfg.VerifyConnection == nil {
		t.Error("TLSConfig(nil) does not verify")
	}
}

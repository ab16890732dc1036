package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"time"
)

// stallLimit bounds a HandshakeStall when the world stays open.
const stallLimit = time.Minute

// errStalled ends a stalled handshake.
var errStalled = errors.New("testserver: handshake stalled")

type certKey struct {
	host string // SNI form: lower case, no trailing dot; "" for no SNI
	kind CertFault
}

// RootCAs returns a new pool holding the world's CA, the one that issues
// every good certificate of the world.
func (w *World) RootCAs() *x509.CertPool { return w.ca.Pool() }

// CAPEM returns the world's CA certificate PEM-encoded.
func (w *World) CAPEM() []byte { return w.ca.PEM() }

// WriteCAFile writes the world's CA certificate, PEM-encoded, to path, for
// command-line tools that take a CA file.
func (w *World) WriteCAFile(path string) error {
	return os.WriteFile(path, w.ca.PEM(), 0o644)
}

// CA returns the world's certificate authority, to mint more certificates
// that the world's clients trust.
func (w *World) CA() *CA { return w.ca }

// Handshakes reports how many TLS ClientHellos (HTTPS and SMTP STARTTLS)
// asked for host by SNI, or for an SMTP host without SNI.
func (w *World) Handshakes(host string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.handshakes[canon(host)]
}

// tlsConfig returns the server configuration for a listener; fallback is
// the host to serve when the client sends no SNI ("" for a certificate for
// localhost and the world's IP).
func (w *World) tlsConfig(fallback string, nextProtos []string) *tls.Config {
	return &tls.Config{
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			host := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
			if host == "" {
				host = strings.TrimSuffix(fallback, ".")
			}
			name := canon(host)
			if host == "" {
				name = ""
			}
			w.mu.Lock()
			w.handshakes[name]++
			faults := w.faultsOf(name, layerTLS)
			w.mu.Unlock()

			cfg := &tls.Config{NextProtos: nextProtos}
			kind := CertFault(0)
			for _, f := range faults {
				switch f := f.(type) {
				case TLSFault:
					switch f {
					case LegacyTLS:
						cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
					case HandshakeStall:
						w.sleep(hello.Context(), stallLimit)
						return nil, errStalled
					}
				case CertFault:
					kind = f
				}
			}
			cert, err := w.cert(host, kind)
			if err != nil {
				return nil, err
			}
			cfg.Certificates = []tls.Certificate{cert}
			return cfg, nil
		},
	}
}

// cert returns the certificate for host (SNI form) of the given kind,
// minting and caching it on first use.
func (w *World) cert(host string, kind CertFault) (tls.Certificate, error) {
	key := certKey{host, kind}
	w.certMu.Lock()
	defer w.certMu.Unlock()
	if c, ok := w.certs[key]; ok {
		return c, nil
	}
	spec := CertSpec{DNSNames: []string{host}}
	if host == "" {
		spec = CertSpec{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{w.ip.AsSlice()}}
	}
	issuer := w.ca
	self := false
	t := w.now()
	switch kind {
	case CertExpired:
		spec.NotBefore, spec.NotAfter = t.Add(-48*time.Hour), t.Add(-24*time.Hour)
	case CertNotYetValid:
		spec.NotBefore, spec.NotAfter = t.Add(24*time.Hour), t.Add(48*time.Hour)
	case CertWrongHost:
		spec = CertSpec{CommonName: "wrong-host.invalid", DNSNames: []string{"wrong-host.invalid"}}
	case CertCNOnly:
		spec = CertSpec{CommonName: host}
	case CertUntrusted:
		issuer = w.untrusted
	case CertSelfSigned:
		self = true
	case CertWildcard:
		parent := host
		if i := strings.IndexByte(host, '.'); i >= 0 {
			parent = host[i+1:]
		}
		spec.DNSNames = []string{"*." + parent}
	}
	var c tls.Certificate
	var err error
	if self {
		c, err = issuer.SelfSigned(spec)
	} else {
		c, err = issuer.Issue(spec)
	}
	if err != nil {
		return tls.Certificate{}, err
	}
	w.certs[key] = c
	return c, nil
}

// Package cli holds what the example commands share: the frame of a
// command (its flags, -h, the usage status 64 and how it reports errors),
// the flags that point them at a DNS, a set of roots and a policy port
// (-dns, -ca, -https-port), turning those flags into a DNS client and a
// root pool, and printing a report as JSON.
package cli

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
)

// World holds the -dns, -ca and -https-port flags.
type World struct {
	DNS       string // comma-separated host[:port]; "" for /etc/resolv.conf
	CA        string // PEM file of roots; "" for the system's
	HTTPSPort int    // 0 for 443
}

// Register defines the flags on fs.
func (w *World) Register(fs *flag.FlagSet) {
	fs.StringVar(&w.DNS, "dns", "", "DNS server(s) to ask, host[:port], comma-separated (default: /etc/resolv.conf)")
	fs.StringVar(&w.CA, "ca", "", "PEM file of root certificates to trust instead of the system's")
	fs.IntVar(&w.HTTPSPort, "https-port", 0, "port to fetch policies from instead of 443 (for tests)")
}

// ErrBadPort reports an -https-port outside 0..65535.
var ErrBadPort = errors.New("-https-port must be 0 to 65535")

// Check reports whether the flags' values are usable.
func (w *World) Check() error {
	if w.HTTPSPort < 0 || w.HTTPSPort > 65535 {
		return ErrBadPort
	}
	return nil
}

// Roots returns the pool of -ca, or nil (the system's) when it is not set.
func (w *World) Roots() (*x509.CertPool, error) {
	if w.CA == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(w.CA)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates", w.CA)
	}
	return roots, nil
}

// DNSClient returns a client of the -dns servers.
func (w *World) DNSClient() (*dnsclient.Client, error) {
	return dnsclient.FromFlag(w.DNS, 0)
}

// Open returns the DNS client of -dns and the pool of -ca (nil for the
// system's), in that order: the first that fails is the error.
func (w *World) Open() (*dnsclient.Client, *x509.CertPool, error) {
	dc, err := w.DNSClient()
	if err != nil {
		return nil, nil, err
	}
	roots, err := w.Roots()
	if err != nil {
		return nil, nil, err
	}
	return dc, roots, nil
}

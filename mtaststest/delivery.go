package mtaststest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// Request is an HTTPS POST the world received, such as a TLS-RPT report
// sent to an https rua (RFC 8460 section 5.3): the host it was sent to
// (without port), the path, the headers and the body (at most 16 MiB).
type Request = testserver.Request

// NetResolver returns a *net.Resolver that asks the world's DNS server
// only, for delivery code that looks names up itself (MX records, the
// addresses of MX hosts): names of the world resolve, others do not. Each
// call returns a new resolver; it holds no resources between lookups.
func (w *World) NetResolver() *net.Resolver {
	addr := w.w.DNSAddr()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// LookupMX returns the MX records of domain in the world, sorted by
// preference as net.Resolver.LookupMX sorts them, with host names
// without their trailing dot. A domain without MX records returns a
// *net.DNSError with IsNotFound set.
func (w *World) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	mxs, err := w.NetResolver().LookupMX(ctx, domain)
	for _, mx := range mxs {
		mx.Host = strings.TrimSuffix(mx.Host, ".")
	}
	return mxs, err
}

// CAFile returns the path of a file holding the world's certificate
// authority, PEM-encoded (World.CAPEM), for programs that read a CA file
// (the -ca flag of the example commands). The file is written on the first
// call and removed when the world closes.
func (w *World) CAFile() string {
	path, err := w.caFileOnce()
	if err != nil {
		w.fail(err)
	}
	return path
}

func (w *World) caFileOnce() (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.caFile != "" {
		return w.caFile, nil
	}
	var dir string
	if w.tb != nil {
		dir = w.tb.TempDir()
	} else {
		d, err := os.MkdirTemp("", "mtaststest-ca-")
		if err != nil {
			return "", err
		}
		dir, w.caDir = d, d
	}
	path := filepath.Join(dir, "ca.pem")
	if err := w.w.WriteCAFile(path); err != nil {
		return "", err
	}
	w.caFile = path
	return path, nil
}

// AddHTTPSHost publishes the address of host so that HTTPS requests to it
// reach the world's HTTPS server (on World.HTTPSPort), with a certificate
// for host from the world's authority. The server answers every POST with
// 200 and records it for World.Posts: give host as the https rua of a
// domain's TLS-RPT record to test the delivery of reports.
func (w *World) AddHTTPSHost(host string) { w.w.SetAddrs(host, w.w.IP()) }

// Posts returns the HTTPS POST requests that host received, oldest first.
func (w *World) Posts(host string) []Request { return w.w.Posts(host) }

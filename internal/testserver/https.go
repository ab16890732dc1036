package testserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"time"
)

const (
	// WellKnownPath is where the HTTPS server serves each policy file.
	WellKnownPath = "/.well-known/mta-sts.txt"
	// maxPostBody bounds the body of a recorded POST.
	maxPostBody = 16 << 20
	// bombChunk is the size of the zero blocks a GzipBomb compresses.
	bombChunk = 32 << 10
)

// Request is an HTTPS POST the world received, for example a TLS-RPT report
// sent to an https rua.
type Request struct {
	Host   string // without port or trailing dot
	Path   string
	Header http.Header
	Body   []byte // at most 16 MiB
}

// startHTTPS serves HTTP/1.1 over TLS on one listener for every host: SNI
// picks the certificate, the Host header the site. HTTP/2 is off so that
// ConnReset can take the connection over.
func (w *World) startHTTPS() error {
	ln, err := w.listen(0)
	if err != nil {
		return fmt.Errorf("testserver: https: %w", err)
	}
	cfg := w.tlsConfig("", []string{"http/1.1"})
	srv := &http.Server{
		Handler:           http.HandlerFunc(w.serveHTTP),
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		BaseContext:       func(net.Listener) context.Context { return w.ctx },
		ConnState: func(_ net.Conn, s http.ConnState) {
			// Close waits for every connection, not only for Serve.
			switch s {
			case http.StateNew:
				w.wg.Add(1)
			case http.StateClosed, http.StateHijacked:
				w.wg.Done()
			}
		},
	}
	w.httpSrv = srv
	w.httpAddr = ln.Addr().String()
	w.goTracked(func() { _ = srv.Serve(tls.NewListener(ln, cfg)) })
	return nil
}

// HTTPSAddr returns the host:port of the HTTPS server that serves every host
// of the world.
func (w *World) HTTPSAddr() string { return w.httpAddr }

// HTTPSPort returns the port of [World.HTTPSAddr], for clients that resolve
// the policy host through the world's DNS and override port 443.
func (w *World) HTTPSPort() int { return portOf(w.httpAddr) }

// Fetches reports how many GET or HEAD requests for the policy file of
// domain, at mta-sts.<domain>, the HTTPS server has received, faulty ones
// included. Connections that fail in the TLS handshake send no request: see
// [World.Handshakes].
func (w *World) Fetches(domain string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fetches[canon("mta-sts."+canon(domain))]
}

// Posts returns the POST requests received for host, oldest first.
func (w *World) Posts(host string) []Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Request(nil), w.posts[canon(host)]...)
}

// httpPlan is what the faults of a host make of one response.
type httpPlan struct {
	status   int
	redirect *Redirect
	ctype    string
	ctypeSet bool
	slow     time.Duration
	trickle  time.Duration
	large    int
	bomb     int64
	reset    bool
}

func (w *World) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	name := canon(host)
	isPolicy := (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == WellKnownPath

	var posted []byte
	if r.Method == http.MethodPost {
		posted, _ = io.ReadAll(io.LimitReader(r.Body, maxPostBody))
	}

	w.mu.Lock()
	if isPolicy {
		w.fetches[name]++
	}
	if r.Method == http.MethodPost {
		w.posts[name] = append(w.posts[name], Request{Host: display(name), Path: r.URL.Path, Header: r.Header.Clone(), Body: posted})
	}
	faults := w.faultsOf(name, layerHTTP)
	policy, havePolicy := w.bodies[name]
	w.mu.Unlock()

	p := httpPlan{status: http.StatusOK, ctype: "text/plain", ctypeSet: true}
	var body []byte
	switch {
	case r.Method == http.MethodPost:
		body = []byte("ok\n")
	case isPolicy && havePolicy:
		body = []byte(policy)
	default:
		p.status, body = http.StatusNotFound, []byte("404 page not found\n")
	}
	for _, f := range faults {
		switch f := f.(type) {
		case Status:
			p.status = int(f)
		case Redirect:
			p.redirect = &f
		case ContentType:
			p.ctype, p.ctypeSet = string(f), f != ""
		case LargeBody:
			p.large = int(f)
		case SlowHeaders:
			p.slow = time.Duration(f)
		case Trickle:
			p.trickle = time.Duration(f)
		case GzipBomb:
			p.bomb = int64(f)
		case HTTPFault:
			p.reset = p.reset || f == ConnReset
		}
	}

	if p.reset {
		reset(rw)
		return
	}
	if !w.sleep(r.Context(), p.slow) {
		abort()
	}
	h := rw.Header()
	if p.ctypeSet {
		h.Set("Content-Type", p.ctype)
	} else {
		h["Content-Type"] = nil // no sniffing either
	}
	if p.redirect != nil {
		h.Set("Location", p.redirect.Location)
		rw.WriteHeader(p.redirect.Code)
		return
	}
	if p.large > 0 {
		body = pad(body, p.large)
	}
	if p.bomb > 0 {
		h.Set("Content-Encoding", "gzip")
		rw.WriteHeader(p.status)
		writeBomb(rw, body, p.bomb)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rw.WriteHeader(p.status)
	if p.trickle <= 0 {
		rw.Write(body)
		return
	}
	rc := http.NewResponseController(rw)
	for i := range body {
		if !w.sleep(r.Context(), p.trickle) {
			abort()
		}
		if _, err := rw.Write(body[i : i+1]); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// reset takes the connection over and closes it with an RST.
func reset(rw http.ResponseWriter) {
	c, _, err := http.NewResponseController(rw).Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	c.Close()
}

// pad returns body followed by extension lines up to n bytes in all.
func pad(body []byte, n int) []byte {
	out := bytes.NewBuffer(make([]byte, 0, n+80))
	out.Write(body)
	line := []byte("x-padding: " + string(bytes.Repeat([]byte{'a'}, 60)) + "\r\n")
	for out.Len() < n {
		out.Write(line)
	}
	return out.Bytes()[:max(n, len(body))]
}

// writeBomb writes, gzip-compressed, body followed by zero bytes up to n
// bytes in all.
func writeBomb(dst io.Writer, body []byte, n int64) {
	gz, _ := gzip.NewWriterLevel(dst, gzip.BestCompression)
	if int64(len(body)) > n {
		body = body[:n]
	}
	if _, err := gz.Write(body); err != nil {
		return
	}
	zeros := make([]byte, bombChunk)
	for left := n - int64(len(body)); left > 0; left -= bombChunk {
		if _, err := gz.Write(zeros[:min(left, bombChunk)]); err != nil {
			return
		}
	}
	gz.Close()
}

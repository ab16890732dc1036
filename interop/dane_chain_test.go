package interop

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// startChainMX starts an SMTP server for host on 127.0.0.1 that offers
// STARTTLS with a certificate from the world's CA and sends the CA's
// certificate after it, as a server whose TLSA records are digests of its
// trust anchor must (RFC 7671 section 5.2.2): the servers of
// internal/testserver send the leaf alone. It answers EHLO, STARTTLS and
// QUIT, nothing else, and stops when the test ends. It returns its
// address.
func startChainMX(t testing.TB, w *testserver.World, host string) string {
	t.Helper()
	leaf, err := w.CA().Issue(testserver.CertSpec{DNSNames: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	leaf.Certificate = append(leaf.Certificate[:len(leaf.Certificate):len(leaf.Certificate)], w.CA().Certificate().Raw)
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveChainSMTP(c, host, cfg)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// serveChainSMTP runs one SMTP session on c, bounded in time and in the
// number of commands.
func serveChainSMTP(c net.Conn, host string, cfg *tls.Config) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	rw := bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
	reply := func(s string) bool {
		rw.WriteString(s)
		return rw.Flush() == nil
	}
	if !reply("220 " + host + " ESMTP\r\n") {
		return
	}
	for range 16 {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case verb == "EHLO" || verb == "HELO":
			if !reply("250-" + host + "\r\n250 STARTTLS\r\n") {
				return
			}
		case verb == "STARTTLS":
			if !reply("220 ready\r\n") {
				return
			}
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil {
				return
			}
			c = tc
			rw = bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
		case verb == "QUIT":
			reply("221 bye\r\n")
			return
		default:
			if !reply("502 not here\r\n") {
				return
			}
		}
	}
}

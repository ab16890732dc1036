package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// benchConns is the number of client connections of the benchmarks, as in
// docs/BENCHMARKS.md.
const benchConns = 16

// quietLog discards everything below errors.
func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// hammer sends the requests reqs(i), i in [0, n), over benchConns
// connections to addr, each connection one request at a time as Postfix
// does, checks every reply against want and reports queries per second.
func hammer(b *testing.B, network, addr string, n int, req, want func(i int) []byte) {
	conns := make([]net.Conn, benchConns)
	for i := range conns {
		nc, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Minute))
		conns[i] = nc
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	b.StartTimer()
	start := time.Now()
	for _, nc := range conns {
		wg.Go(func() {
			br := bufio.NewReader(nc)
			buf := make([]byte, 256)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := nc.Write(req(i)); err != nil {
					failed.Store(err.Error())
					return
				}
				wantFrame := want(i)
				got := buf[:len(wantFrame)]
				if _, err := io.ReadFull(br, got); err != nil || string(got) != string(wantFrame) {
					failed.Store("request " + strconv.Itoa(i) + ": got " + strconv.Quote(string(got)) + ", " + fmtErr(err))
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "q/s")
}

// BenchmarkCacheHit: 16 connections asking for one cached enforce policy
// (target in docs/BENCHMARKS.md: at least 130 k queries/s), over TCP on loopback and
// over a Unix socket.
func BenchmarkCacheHit(b *testing.B) {
	w := testserver.Start(b)
	cmdtest.AddDomain(b, w, "enforce.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.test", "*.mx.enforce.test"}, MaxAge: 86400})
	r := newResolver(b, w)
	frame := []byte(netstring("postfix enforce.test"))
	reply := []byte(netstring(enforceReply))
	same := func(b []byte) func(int) []byte { return func(int) []byte { return b } }
	for _, network := range []string{"tcp", "unix"} {
		b.Run(network, func(b *testing.B) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = b.TempDir() + "/socket"
			}
			addr = serveOn(b, network, addr, &Server{Lookuper: r, Log: quietLog()})
			hammer(b, network, addr, 1, same(frame), same(reply)) // warm the cache
			b.ReportAllocs()
			hammer(b, network, addr, b.N, same(frame), same(reply))
		})
	}
}

// BenchmarkFloor: the client of BenchmarkCacheHit against a server that
// does nothing but read a request and write a fixed reply: the cost of the
// I/O alone, the ceiling of BenchmarkCacheHit on the machine.
func BenchmarkFloor(b *testing.B) {
	b.Run("tcp", func(b *testing.B) { floor(b, "tcp", "127.0.0.1:0") })
	b.Run("unix", func(b *testing.B) { floor(b, "unix", b.TempDir()+"/s") })
}

func floor(b *testing.B, network, addr string) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	reply := []byte(netstring(enforceReply))
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				buf := make([]byte, MaxRequest)
				for {
					if _, err := readNetstring(br, buf, MaxRequest); err != nil {
						return
					}
					if _, err := nc.Write(reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	frame := []byte(netstring("postfix enforce.test"))
	same := func(b []byte) func(int) []byte { return func(int) []byte { return b } }
	hammer(b, network, ln.Addr().String(), b.N, same(frame), same(reply))
}

// BenchmarkCold: 16 connections asking for domains never seen, each a
// whole discovery (TXT, A, TLS, GET, parse) against the loopback world
// (target in docs/BENCHMARKS.md: at least 1500 queries/s).
func BenchmarkCold(b *testing.B) {
	w := testserver.Start(b)
	reqs, replies := make([][]byte, b.N), make([][]byte, b.N)
	for i := range reqs {
		d := "d" + strconv.Itoa(i) + ".cold.test"
		cmdtest.AddDomain(b, w, d, testserver.Policy{Mode: "enforce", MX: []string{"mx." + d}, MaxAge: 86400, ID: "1"})
		reqs[i] = []byte(netstring("postfix " + d))
		replies[i] = []byte(netstring("OK secure match=mx." + d + " servername=hostname"))
	}
	warmCertificates(b, w, b.N)
	addr := serve(b, &Server{Lookuper: newResolver(b, w), Log: quietLog()})
	b.ReportAllocs()
	hammer(b, "tcp", addr, b.N, func(i int) []byte { return reqs[i] }, func(i int) []byte { return replies[i] })
}

// warmCertificates makes the world mint the certificates of the policy
// hosts before the clock starts: minting is the world's cost, not the
// server's.
func warmCertificates(b *testing.B, w *testserver.World, n int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			host := "mta-sts.d" + strconv.Itoa(i) + ".cold.test"
			d := &net.Dialer{Timeout: 5 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(w.HTTPSPort())),
				&tls.Config{ServerName: host, RootCAs: w.RootCAs()})
			if err != nil {
				b.Error(err)
				return
			}
			c.Close()
		})
	}
	wg.Wait()
}

func fmtErr(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

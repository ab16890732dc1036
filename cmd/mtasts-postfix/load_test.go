package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// The side-by-side load test: the built server and, optionally, a peer
// daemon, both pointed at one loopback world, loaded by the same client,
// each daemon's CPU time read from /proc so that the client's share does
// not blur it. It runs only when MTASTS_POSTFIX_LOAD is set:
//
//	MTASTS_POSTFIX_LOAD=1 go test -run TestLoadSideBySide -v ./cmd/mtasts-postfix/
//
// A peer is given as a shell command (MTASTS_POSTFIX_PEER, run with sh -c;
// "exec" it so that its process is the daemon), its socketmap address
// (MTASTS_POSTFIX_PEER_ADDR) and the map name it expects
// (MTASTS_POSTFIX_PEER_MAP). MTASTS_POSTFIX_ENV adds variables to this
// server's environment (such as GOMAXPROCS=1). In the command, {dns} is replaced by the
// world's DNS address, {dir} by a scratch directory and {hosts} by a hosts
// file naming every policy host of the world (for a peer that finds the
// policy host's address through the system's resolver); the peer fetches
// policies from port 443 of the world's address (a forwarder listens
// there) and trusts the world's CA through SSL_CERT_FILE. docs/BENCHMARKS.md
// has the command used for postfix-tlspol.

// loadIP is the loopback address of the world in the load test, away from
// 127.0.0.1, where other programs may have taken port 443.
var loadIP = netip.MustParseAddr("127.0.0.77")

// daemonUnderLoad is one socketmap server being measured.
type daemonUnderLoad struct {
	name    string
	addr    string
	mapName string
	pid     int
}

func TestLoadSideBySide(t *testing.T) {
	if os.Getenv("MTASTS_POSTFIX_LOAD") == "" {
		t.Skip("set MTASTS_POSTFIX_LOAD=1 to run the side-by-side load test")
	}
	rounds := envInt("MTASTS_POSTFIX_ROUNDS", 3)
	hitN := envInt("MTASTS_POSTFIX_HITS", 100000)
	coldN := envInt("MTASTS_POSTFIX_COLD", 1500)

	w := testserver.Start(t, testserver.Options{IP: loadIP})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := w.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	fwd := forward(t, netip.AddrPortFrom(loadIP, 443).String(), net.JoinHostPort(loadIP.String(), strconv.Itoa(w.HTTPSPort())))
	_ = fwd
	cmdtest.AddDomain(t, w, "hit.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.hit.test", "*.mx.hit.test"}, MaxAge: 86400})

	daemons := []*daemonUnderLoad{{name: "mtasts-postfix", mapName: "postfix"},
		{name: "floor", mapName: "postfix"}, {name: "floor-epoll", mapName: "postfix"}}
	peer := os.Getenv("MTASTS_POSTFIX_PEER")
	if peer != "" {
		daemons = append(daemons, &daemonUnderLoad{name: "peer"})
	}

	// Cold domains, distinct for each daemon, round, phase and connection
	// count; their certificates minted before any clock starts.
	cold := func(d *daemonUnderLoad, round, conns int) []string {
		out := make([]string, coldN)
		for i := range out {
			out[i] = fmt.Sprintf("d%d.c%d.r%d.%s.cold.test", i, conns, round, strings.ReplaceAll(d.name, "-", ""))
		}
		return out
	}
	var all []string
	for round := range rounds {
		for _, d := range daemons {
			if strings.HasPrefix(d.name, "floor") {
				continue
			}
			for _, conns := range []int{1, 16} {
				all = append(all, cold(d, round, conns)...)
			}
		}
	}
	t.Logf("publishing %d cold domains", len(all))
	for _, name := range all {
		cmdtest.AddDomain(t, w, name, testserver.Policy{Mode: "enforce", MX: []string{"mx." + name}, MaxAge: 86400, ID: "1"})
	}
	mintCertificates(t, w, all)
	hosts := filepath.Join(t.TempDir(), "hosts")
	hb := []byte("127.0.0.1 localhost\n" + loadIP.String() + " mta-sts.hit.test\n")
	for _, name := range all {
		hb = append(hb, loadIP.String()+" mta-sts."+name+"\n"...)
	}
	if err := os.WriteFile(hosts, hb, 0o644); err != nil {
		t.Fatal(err)
	}

	ours := startEnv(t, strings.Fields(os.Getenv("MTASTS_POSTFIX_ENV")), buildBinary(t),
		"-listen", "127.0.0.1:0", "-dns", w.DNSAddr(), "-ca", ca, "-https-port", "443", "-timeout", "10s")
	daemons[0].addr, daemons[0].pid = ours.addr, ours.cmd.Process.Pid
	daemons[1].addr, daemons[1].pid = startFloor(t, false)
	daemons[2].addr, daemons[2].pid = startFloor(t, true)
	if peer != "" {
		p := startPeer(t, peer, w.DNSAddr(), ca, hosts)
		daemons[3].addr, daemons[3].mapName, daemons[3].pid = p.addr, p.mapName, p.pid
	}

	type result struct{ qps, cpuPerAnswer float64 }
	results := map[string][]result{}
	for round := range rounds {
		for _, d := range daemons {
			// Warm the hit domain.
			loadRun(t, d, 1, 1, func(int) string { return "hit.test" }, "OK secure match=")
			for _, conns := range []int{1, 16} {
				n := hitN
				if conns == 1 {
					n = hitN / 4
				}
				qps, cpu := loadRun(t, d, conns, n, func(int) string { return "hit.test" }, "OK secure match=")
				key := fmt.Sprintf("%s hit %d", d.name, conns)
				results[key] = append(results[key], result{qps, cpu})
				if strings.HasPrefix(d.name, "floor") {
					continue
				}
				names := cold(d, round, conns)
				qps, cpu = loadRun(t, d, conns, len(names), func(i int) string { return names[i] }, "OK secure match=mx.")
				key = fmt.Sprintf("%s cold %d", d.name, conns)
				results[key] = append(results[key], result{qps, cpu})
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| daemon | work | conns | q/s (each round) | daemon CPU µs per answer (each round) |\n|---|---|---|---|---|\n")
	for _, d := range daemons {
		for _, work := range []string{"hit", "cold"} {
			for _, conns := range []int{1, 16} {
				rs := results[fmt.Sprintf("%s %s %d", d.name, work, conns)]
				if len(rs) == 0 {
					continue
				}
				var q, c []string
				for _, r := range rs {
					q = append(q, fmt.Sprintf("%.0f", r.qps))
					c = append(c, fmt.Sprintf("%.1f", r.cpuPerAnswer))
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %s | %s |\n", d.name, work, conns, strings.Join(q, ", "), strings.Join(c, ", "))
			}
		}
	}
	t.Log(b.String())
	ours.stop()
}

// loadRun sends n requests for key(i) over conns connections, one at a
// time on each (as Postfix does), checks that every reply begins with
// wantPrefix, and returns the queries per second and the daemon's CPU time
// per answer in microseconds.
func loadRun(t *testing.T, d *daemonUnderLoad, conns, n int, key func(int) string, wantPrefix string) (qps, cpuMicros float64) {
	t.Helper()
	ncs := make([]net.Conn, conns)
	for i := range ncs {
		nc, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Minute))
		ncs[i] = nc
	}
	reqs := make([][]byte, 0, n)
	same := key(0) == key(min(1, n-1))
	for i := range n {
		if same && i > 0 {
			reqs = append(reqs, reqs[0])
			continue
		}
		reqs = append(reqs, []byte(netstring(d.mapName+" "+key(i))))
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	runtime.GC() // not during the run
	cpu0 := procCPU(t, d.pid)
	start := time.Now()
	for _, nc := range ncs {
		wg.Go(func() {
			br := bufio.NewReaderSize(nc, 4096)
			buf := make([]byte, MaxReply)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := nc.Write(reqs[i]); err != nil {
					failed.Store(err.Error())
					return
				}
				p, err := readNetstring(br, buf, MaxReply)
				if err != nil || !strings.HasPrefix(string(p), wantPrefix) {
					failed.Store(fmt.Sprintf("%s request %d: got %q, %v", d.name, i, p, err))
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := procCPU(t, d.pid) - cpu0
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}

	return float64(n) / elapsed.Seconds(), float64(cpu.Microseconds()) / float64(n)
}

// procCPU returns the user and system CPU time of process pid so far, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 10 ms).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// startFloor runs the test binary as a floor: a server that reads each
// netstring and writes a fixed reply, and nothing else. The goroutine
// floor has this server's design (a goroutine per connection, buffered
// I/O): the cost of Go's network I/O alone. The epoll floor
// (floorServeEpoll) has one thread and no Go scheduler on the path: the
// cost of the kernel alone.
func startFloor(t *testing.T, epoll bool) (addr string, pid int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "MTASTS_POSTFIX_FLOOR_ADDR="+addr)
	if epoll {
		cmd.Env = append(cmd.Env, "MTASTS_POSTFIX_FLOOR_EPOLL=1")
	}
	return addr, startListening(t, cmd, addr, "the floor to listen")
}

// startListening starts cmd, kills it when the test ends, and waits until
// addr accepts connections; it returns the process id.
func startListening(t *testing.T, cmd *exec.Cmd, addr, what string) int {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, func() bool {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err == nil
	}, what)
	return cmd.Process.Pid
}

// floorServe is the floor daemon's main: it answers every request with the
// reply for hit.test.
func floorServe(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reply := []byte(netstring("OK secure match=mx1.hit.test:.mx.hit.test servername=hostname"))
	for {
		nc, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer nc.Close()
			br := bufio.NewReaderSize(nc, 4096)
			bw := bufio.NewWriterSize(nc, 4096)
			buf := make([]byte, MaxRequest)
			for {
				if _, err := readNetstring(br, buf, MaxRequest); err != nil {
					return
				}
				bw.Write(reply)
				if bw.Flush() != nil {
					return
				}
			}
		}()
	}
}

// startPeer starts the peer daemon's command and waits until its
// socketmap address accepts connections.
func startPeer(t *testing.T, command, dns, ca, hosts string) *daemonUnderLoad {
	t.Helper()
	addr, mapName := os.Getenv("MTASTS_POSTFIX_PEER_ADDR"), os.Getenv("MTASTS_POSTFIX_PEER_MAP")
	if addr == "" || mapName == "" {
		t.Fatal("MTASTS_POSTFIX_PEER needs MTASTS_POSTFIX_PEER_ADDR and MTASTS_POSTFIX_PEER_MAP")
	}
	command = strings.NewReplacer("{dns}", dns, "{dir}", t.TempDir(), "{hosts}", hosts).Replace(command)
	cmd := exec.Command("sh", "-c", command)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+ca)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	pid := startListening(t, cmd, addr, "the peer to listen on "+addr)
	return &daemonUnderLoad{name: "peer", addr: addr, mapName: mapName, pid: pid}
}

// forward listens on from and copies each connection to and from to,
// until the test ends.
func forward(t *testing.T, from, to string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", from)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				u, err := net.DialTimeout("tcp", to, 5*time.Second)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{})
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(c, u)
				c.(*net.TCPConn).CloseWrite()
				<-done
			})
		}
	})
	return ln
}

// mintCertificates makes the world mint the certificates of the names'
// policy hosts before any clock starts: minting is the world's cost.
func mintCertificates(t *testing.T, w *testserver.World, names []string) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, name := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d := &net.Dialer{Timeout: 5 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(loadIP.String(), strconv.Itoa(w.HTTPSPort())),
				&tls.Config{ServerName: "mta-sts." + name, RootCAs: w.RootCAs()})
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		})
	}
	wg.Wait()
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

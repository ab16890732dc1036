// Command postfix-policy is a Postfix socketmap server that gives Postfix's
// SMTP client the MTA-STS policy (RFC 8461) of each next-hop domain, as a TLS
// policy, the way postfix-mta-sts-resolver does.
//
//	postfix-policy [-listen ADDR] [-map NAME] [-strict-testing] [-timeout D]
//	    [-cache-dir DIR] [-dns ADDR] [-ca FILE] [-https-port N]
//	    [-idle-timeout D] [-max-conns N] [-v]
//
// In main.cf:
//
//	smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
//
// (with -listen and -map changed, the address and the last field to match).
// With -listen unix:/run/postfix-policy/socket, a Unix socket, which costs
// less per query than TCP on loopback:
//
//	smtp_tls_policy_maps = socketmap:unix:/run/postfix-policy/socket:postfix
//
// (an smtp(8) that runs chrooted needs the socket inside its chroot).
// When DANE is used too, list its map first, so that a domain with TLSA
// records keeps its DANE policy.
//
// # Protocol
//
// Each request and each reply is one netstring (socketmap_table(5)). A
// request is "<map> <key>": the map name, normally -map's (another name is
// answered all the same and logged once, as postfix-mta-sts-resolver does,
// so that a naming mismatch in main.cf does not defer all mail), and the
// key, the next hop: a domain in any case, with or without a trailing dot,
// or "[host]", "[host]:port" or "host:port", whose host is then the policy
// domain (as postfix-mta-sts-resolver takes it). Several requests may come
// on one connection, one after the other (as Postfix sends them) or
// pipelined. The replies:
//
//	OK secure match=P1:P2 servername=hostname  policy in effect, mode enforce
//	                                           (or testing, with -strict-testing)
//	NOTFOUND                                   mode testing, mode none; no
//	                                           _mta-sts record; a record whose
//	                                           policy cannot be fetched or is
//	                                           invalid (RFC 8461 section 3.3:
//	                                           deliver without MTA-STS); a key
//	                                           that is not a domain
//	                                           ("[192.0.2.1]", ".example.com")
//	TEMP                                       the _mta-sts TXT lookup failed
//	                                           temporarily and no policy is
//	                                           cached: Postfix defers the mail
//
// "NOTFOUND " and "TEMP " end in a space and carry no reason; reasons go to
// the log. P1, P2, ... are the policy's mx patterns in order, a wildcard
// "*.example.com" written ".example.com", Postfix's syntax for subdomains of
// example.com. An exact pattern of a single label ("hostname", "nexthop")
// is left out, since Postfix would read it as a keyword that matches far
// more; an enforce policy with nothing else gets "TEMP <reason>", as no MX
// host could pass it. A cached policy keeps applying when its refresh fails
// (TEMP and NOTFOUND for failures are only given when nothing is cached).
//
// Known limitation, shared with postfix-mta-sts-resolver: Postfix's
// ".example.com" matches subdomains of any depth, whereas the MTA-STS
// wildcard "*.example.com" covers exactly one label. And with match= given,
// Postfix's "secure" level checks the MX host's certificate against the
// match list only, not against the MX name found in DNS (servername= only
// sets SNI): a server presenting a valid certificate for any name the list
// covers is accepted, for instance one for a.b.example.com under
// "*.example.com", or one for mx1.example.com reached through a forged MX
// record. RFC 8461 section 4 wants the MX name checked against the policy
// and the certificate against the MX name; resolver.Check and
// Decision.TLSConfig do both, for MTAs written in Go.
//
// # Limits
//
// A request is at most 1000 bytes (MaxRequest). A request that is not a
// netstring (no length, a non-digit or a leading zero in the length, no
// trailing comma) or that is longer than that closes the connection without
// a reply, since what follows cannot be trusted to start a request. A
// connection may stay idle between requests for -idle-timeout (Postfix closes
// its own idle sockets after 10 s), a request must arrive whole within 10 s
// of its first byte, and a reply be written within 10 s. At most -max-conns
// connections are served at once; one more is closed as soon as accepted.
//
// -listen takes any address the operator gives; a socketmap server has no
// authentication, so give it a loopback address (the default) or one that a
// firewall guards, or a Unix socket whose directory's permissions guard it. -timeout bounds each discovery (TXT, fetch) and stays
// below Postfix's own 100 s socketmap timeout. -cache-dir keeps policies
// across restarts (cache.DirStore). SIGINT or SIGTERM stops the server: it
// stops accepting, answers the requests in progress and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/examples/internal/cli"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 64
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the server until ctx is done and returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("postfix-policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var world cli.World
	world.Register(fs)
	listen := fs.String("listen", "127.0.0.1:8461", "TCP host:port to listen on (keep it loopback or firewalled: socketmap has no authentication), or unix:PATH for a Unix socket")
	mapName := fs.String("map", DefaultMap, "socketmap name requests must carry (the last field of socketmap:inet:host:port:name)")
	strict := fs.Bool("strict-testing", false, "answer testing policies like enforce ones")
	timeout := fs.Duration("timeout", resolver.DefaultFetchTimeout, "deadline of each policy discovery (TXT lookup and HTTPS fetch)")
	cacheDir := fs.String("cache-dir", "", "directory to keep policies in across restarts (default: memory only)")
	idle := fs.Duration("idle-timeout", DefaultIdleTimeout, "how long a connection may stay idle between requests")
	maxConns := fs.Int("max-conns", DefaultMaxConns, "connections served at once")
	verbose := fs.Bool("v", false, "log every request's failure reason at debug level")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: postfix-policy [-listen ADDR] [-map NAME] [-strict-testing] [-timeout D] [-cache-dir DIR] [-dns ADDR] [-ca FILE] [-https-port N] [-idle-timeout D] [-max-conns N] [-v]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 || *timeout <= 0 || *idle <= 0 || *maxConns <= 0 || world.Check() != nil ||
		*mapName == "" || strings.ContainsAny(*mapName, " ,:") {
		fs.Usage()
		return exitUsage
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	roots, err := world.Roots()
	if err != nil {
		log.Error("bad -ca", "err", err)
		return exitUsage
	}
	opts := resolver.Options{
		DNS:          dnsclient.ParseServers(world.DNS),
		RootCAs:      roots,
		HTTPSPort:    world.HTTPSPort,
		FetchTimeout: *timeout,
		Events: resolver.Events{
			Downgraded: func(domain string, old, new *policy.Policy) {
				log.Warn("policy downgraded", "domain", domain, "old", old.Mode.String(), "new", new.Mode.String())
			},
			FetchFailed: func(domain, id string, err error) {
				log.Warn("policy fetch failed", "domain", domain, "id", id, "err", err)
			},
			ServedStale: func(domain, id string, err error) {
				log.Warn("refresh failed, cached policy still applies", "domain", domain, "id", id, "err", err)
			},
			StoreError: func(err error) { log.Error("cache store", "err", err) },
		},
	}
	if *cacheDir != "" {
		opts.Store = &cache.DirStore{Dir: *cacheDir, OnError: func(err error) {
			log.Warn("cache file skipped", "err", err)
		}}
	}
	r, err := resolver.New(opts)
	if err != nil {
		log.Error("resolver", "err", err)
		return exitUsage
	}
	defer r.Close()

	ln, err := listenOn(*listen)
	if err != nil {
		log.Error("listen", "err", err)
		return exitError
	}
	log.Info("listening", "addr", ln.Addr().String(), "map", *mapName, "strict_testing", *strict)
	srv := &Server{Lookuper: r, Map: *mapName, StrictTesting: *strict, IdleTimeout: *idle, MaxConns: *maxConns, Log: log}
	start := time.Now()
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("serve", "err", err)
		return exitError
	}
	log.Info("stopped", "uptime", time.Since(start).Round(time.Second).String())
	return exitOK
}

// listenOn listens on a TCP host:port, or on the Unix socket PATH for
// "unix:PATH". A socket file left by a previous run is replaced; any other
// file there is an error.
func listenOn(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	return net.Listen("unix", path)
}

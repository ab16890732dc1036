// Command mtasts-postfix is a Postfix socketmap server that gives Postfix's
// SMTP client the MTA-STS policy (RFC 8461) of each next-hop domain, as a TLS
// policy, the way postfix-mta-sts-resolver does. docs/postfix.md is the
// operator's guide: installation, the systemd unit, Postfix settings,
// migration from postfix-mta-sts-resolver, metrics and admin endpoints.
//
//	mtasts-postfix [-listen ADDR] [-map NAME] [-strict-testing] [-timeout D]
//	    [-cache-dir DIR | -redis URL] [-dns ADDR] [-ca FILE] [-https-port N]
//	    [-dns-error-grace D] [-socket-mode MODE] [-socket-group GROUP]
//	    [-overrides FILE] [-log FILE] [-metrics ADDR] [-metrics-allow-remote]
//	    [-tlsrpt] [-dane] [-idle-timeout D] [-max-conns N] [-v]
//
// In main.cf:
//
//	smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
//
// (with -listen and -map changed, the address and the last field to match).
// With -listen unix:/run/mtasts-postfix/socket, a Unix socket, which costs
// less per query than TCP on loopback:
//
//	smtp_tls_policy_maps = socketmap:unix:/run/mtasts-postfix/socket:postfix
//
// (an smtp(8) that runs chrooted needs the socket inside its chroot).
// When DANE is used too, give -dane (the -dns servers validate DNSSEC; main.cf
// needs smtp_dns_support_level = dnssec), or list a DANE map first, so that
// a domain with TLSA records keeps its DANE policy: MTA-STS must never
// override DANE (RFC 8461 section 2). With -dane, DANE is asked first and
// the MTA-STS answer is given only where DANE decides nothing; see
// docs/postfix.md, "DANE", for the whole table.
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
//	OK dane-only                               with -dane: the MX records are
//	                                           DNSSEC-secure and every MX host
//	                                           has usable validated TLSA records
//	OK dane                                    with -dane: the MX records are
//	                                           secure and some MX host has TLSA
//	                                           records (usable, unusable, or a
//	                                           lookup that failed validation):
//	                                           Postfix applies DANE per host
//	TEMP <reason>                              the _mta-sts TXT lookup failed
//	                                           temporarily, no policy is
//	                                           cached, and the domain's
//	                                           lookups have failed for less
//	                                           than -dns-error-grace: Postfix
//	                                           defers the mail
//	TEMP DANE: <reason>                        with -dane: the MX lookup failed
//	                                           (bogus, SERVFAIL, timeout):
//	                                           whether DANE applies is unknown
//
// "NOTFOUND " ends in a space and carries no reason; reasons go to the log.
// A TEMP reason is one short line (at most 200 bytes), which Postfix logs.
// Once a domain's lookups have failed for longer than -dns-error-grace (30
// minutes by default: Postfix retries once or twice meanwhile) it is
// answered NOTFOUND, delivered without MTA-STS; -dns-error-grace 0 answers
// TEMP for ever, a negative value NOTFOUND at once, as
// postfix-mta-sts-resolver does. With -tlsrpt, OK replies also carry the
// attributes Postfix 3.10 reads for TLSRPT: policy_type, policy_domain,
// mx_host_pattern and policy_string. P1, P2, ... are the policy's mx patterns in order, a wildcard
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
// firewall guards, or a Unix socket, which is given -socket-mode (0660) and
// -socket-group (postfix, when that group exists). -timeout bounds each
// discovery (TXT, fetch) and stays below Postfix's own 100 s socketmap
// timeout. -cache-dir keeps policies across restarts (cache.DirStore);
// -redis shares them among relays (cache/redisstore).
//
// # Signals
//
// SIGHUP reopens the -log file (for logrotate) and rereads the -overrides
// and -ca files; connections and cached policies are kept (a new resolver
// for new roots takes the cached policies over). SIGINT or SIGTERM stops
// the server: it stops accepting, answers the requests in progress and
// exits 0.
//
// # Metrics and administration
//
// With -metrics ADDR (a loopback address unless -metrics-allow-remote),
// an HTTP listener serves /metrics (Prometheus), /healthz, and admin
// endpoints for loopback clients: GET /admin/policies[/DOMAIN], POST
// /admin/purge/DOMAIN ("*" for all) and POST /admin/refresh/DOMAIN.
package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/redisstore"
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

// daemon is the running program: what SIGHUP reloads and what stops with it.
type daemon struct {
	cfg     *config
	log     *slog.Logger
	logFile *logFile // nil: stderr
	store   cache.Store
	events  resolver.Events

	slot      resolverSlot
	overrides overrideSet
	caPEM     []byte

	retired sync.WaitGroup // resolvers replaced by a reload, closing
	stopped chan struct{}  // closed when the server has stopped
}

// run runs the server until ctx is done and returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	d := &daemon{cfg: cfg, stopped: make(chan struct{})}
	var out io.Writer = stderr
	if cfg.logFile != "" {
		lf, err := openLogFile(cfg.logFile)
		if err != nil {
			fmt.Fprintf(stderr, "mtasts-postfix: -log: %v\n", err)
			return exitUsage
		}
		defer lf.Close()
		d.logFile, out = lf, lf
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	d.log = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	return d.run(ctx)
}

func (d *daemon) run(ctx context.Context) int {
	cfg, log := d.cfg, d.log
	roots, pemBytes, err := loadRoots(cfg.ca)
	if err != nil {
		log.Error("bad -ca", "err", err)
		return exitUsage
	}
	d.caPEM = pemBytes
	if cfg.overrides != "" {
		m, err := readOverrides(cfg.overrides)
		if err != nil {
			log.Error("bad -overrides", "err", err)
			return exitUsage
		}
		d.overrides.set(m)
	}
	gid, err := socketGID(cfg)
	if err != nil {
		log.Error("bad -socket-group", "err", err)
		return exitUsage
	}
	switch {
	case cfg.cacheDir != "":
		ds := &cache.DirStore{Dir: cfg.cacheDir, OnError: func(err error) {
			log.Warn("cache file skipped", "err", err)
		}}
		ds.Clean()
		d.store = ds
	case cfg.redisURL != "":
		ropts, err := redis.ParseURL(cfg.redisURL)
		if err != nil {
			log.Error("bad -redis", "err", err)
			return exitUsage
		}
		ropts.ContextTimeoutEnabled = true
		rc := redis.NewClient(ropts)
		defer rc.Close()
		d.store = &redisstore.Store{Client: rc, OnError: func(err error) {
			log.Warn("redis entry skipped", "err", err)
		}}
	}
	var metrics *Metrics
	if cfg.metrics != "" {
		metrics = NewMetrics(d.slot.Cached, nil)
	}
	d.events = metrics.events(d.logEvents())
	r, err := resolver.New(d.options(roots, d.store))
	if err != nil {
		log.Error("resolver", "err", err)
		return exitUsage
	}
	d.slot.cur.Store(r)
	defer func() {
		d.retired.Wait()
		d.slot.cur.Load().Close()
	}()

	ln, warn, err := listenOn(cfg.listen, socketPerms{mode: cfg.socketMode, gid: gid, gidOptional: !cfg.socketGroupSet})
	if err != nil {
		log.Error("listen", "err", err)
		return exitError
	}
	if warn != nil {
		log.Warn("listen", "err", warn)
	}
	if cfg.metrics != "" {
		hl, err := net.Listen("tcp", cfg.metrics)
		if err != nil {
			ln.Close()
			log.Error("listen -metrics", "err", err)
			return exitError
		}
		hs := &http.Server{Handler: newHTTPHandler(metrics, &d.slot, log), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(hl)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			hs.Shutdown(sctx)
		}()
		log.Info("metrics listening", "addr", hl.Addr().String())
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(d.stopped)
	wg.Go(func() {
		for {
			select {
			case <-hup:
				d.reload()
			case <-d.stopped:
				return
			}
		}
	})

	log.Info("listening", "addr", ln.Addr().String(), "map", cfg.mapName, "strict_testing", cfg.strict,
		"dns_error_grace", cfg.grace.String(), "tlsrpt", cfg.tlsrpt, "dane", cfg.dane)
	srv := &Server{Lookuper: &d.slot, Map: cfg.mapName, StrictTesting: cfg.strict, IdleTimeout: cfg.idle,
		MaxConns: cfg.maxConns, Log: log, TLSRPT: cfg.tlsrpt, DNSErrorGrace: serverGrace(cfg.grace),
		Overrides: d.overrides.get, Metrics: metrics}
	if cfg.dane {
		mx, err := dnsclient.FromFlag(cfg.dns, dnsclient.DefaultTimeout)
		if err != nil {
			ln.Close()
			log.Error("-dns", "err", err)
			return exitUsage
		}
		srv.DANE = newDANELookup(mx.WithDNSSEC(), &d.slot, cfg.timeout)
	}
	start := time.Now()
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("serve", "err", err)
		return exitError
	}
	log.Info("stopped", "uptime", time.Since(start).Round(time.Second).String())
	return exitOK
}

// serverGrace maps -dns-error-grace (0: TEMP for ever) to Server's
// DNSErrorGrace (0: the default; GraceForever: TEMP for ever).
func serverGrace(flagValue time.Duration) time.Duration { return resolverGrace(flagValue) }

// options returns the resolver's options for the given roots and store.
func (d *daemon) options(roots *x509.CertPool, store cache.Store) resolver.Options {
	return resolver.Options{
		DNS:          dnsclient.ParseServers(d.cfg.dns),
		RootCAs:      roots,
		HTTPSPort:    d.cfg.httpsPort,
		FetchTimeout: d.cfg.timeout,
		Store:        store,
		Events:       d.events,
		// What Check would decide; the socketmap answers come from the
		// server's own account of the grace (see graceTracker).
		TemporaryErrorGrace: resolverGrace(d.cfg.grace),
		DNSSEC:              d.cfg.dane,
	}
}

// logEvents logs what happens to policies: one line per change or failure.
func (d *daemon) logEvents() resolver.Events {
	log := d.log
	return resolver.Events{
		Fetched: func(domain, id string, p *policy.Policy, _ []policy.Warning) {
			log.Info("policy fetched", "domain", domain, "id", id, "mode", p.Mode.String(), "mx", p.MX, "max_age", p.MaxAge)
		},
		Changed: func(domain, oldID, newID string) {
			log.Info("policy changed", "domain", domain, "old_id", oldID, "new_id", newID)
		},
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
	}
}

// reload does what SIGHUP asks: reopen the log file, reread the overrides
// and the roots. What fails to load is logged and the old value kept.
func (d *daemon) reload() {
	log := d.log
	if d.logFile != nil {
		if err := d.logFile.Reopen(); err != nil {
			log.Error("SIGHUP: reopen -log", "err", err)
		}
	}
	if d.cfg.overrides != "" {
		if m, err := readOverrides(d.cfg.overrides); err != nil {
			log.Error("SIGHUP: -overrides kept as they were", "err", err)
		} else {
			d.overrides.set(m)
		}
	}
	if d.cfg.ca != "" {
		roots, pemBytes, err := loadRoots(d.cfg.ca)
		switch {
		case err != nil:
			log.Error("SIGHUP: -ca kept as it was", "err", err)
		case !bytes.Equal(pemBytes, d.caPEM):
			d.replaceResolver(roots, pemBytes)
		}
	}
	log.Info("reloaded (SIGHUP)")
}

// replaceResolver puts a resolver with new roots in place, warmed with the
// policies of the old one, which is closed once the lookups it may be
// running are over (they are bounded by -timeout).
func (d *daemon) replaceResolver(roots *x509.CertPool, pemBytes []byte) {
	old := d.slot.cur.Load()
	r, err := resolver.New(d.options(roots, newHandoffStore(d.store, old.Cached())))
	if err != nil {
		d.log.Error("SIGHUP: -ca kept as it was", "err", err)
		return
	}
	d.caPEM = pemBytes
	d.slot.cur.Store(r)
	d.log.Info("new roots in use", "ca", d.cfg.ca)
	d.retired.Go(func() {
		t := time.NewTimer(d.cfg.timeout + time.Second)
		defer t.Stop()
		select {
		case <-t.C:
		case <-d.stopped:
		}
		old.Close()
	})
}

// loadRoots returns the pool of the PEM file, and its bytes, or nil for
// the system's when file is "".
func loadRoots(file string) (*x509.CertPool, []byte, error) {
	if file == "" {
		return nil, nil, nil
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		return nil, nil, fmt.Errorf("%s: %w", file, errNoCertificates)
	}
	return roots, pemBytes, nil
}

var errNoCertificates = errors.New("no PEM certificates")

func readOverrides(file string) (map[string]resolver.Override, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseOverrides(f)
}

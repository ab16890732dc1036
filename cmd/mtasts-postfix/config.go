package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/mtasts-go/mtasts/resolver"
)

// DefaultDNSErrorGrace is how long a domain whose _mta-sts lookup keeps
// failing temporarily is answered TEMP before it is answered NOTFOUND.
const DefaultDNSErrorGrace = 30 * time.Minute

// DefaultSocketGroup is the group a Unix socket is given when it exists.
const DefaultSocketGroup = "postfix"

// config is what the command line says.
type config struct {
	listen, mapName, cacheDir, redisURL string
	dns, ca                             string
	httpsPort                           int
	strict, verbose, tlsrpt, dane       bool
	timeout, idle, grace                time.Duration
	maxConns                            int
	socketMode                          uint32
	socketGroup                         string // "" leaves the group alone
	socketGroupSet                      bool   // given on the command line
	logFile, overrides                  string
	metrics                             string
	metricsRemote                       bool
}

// errUsage is the error of every bad command line.
var errUsage = errors.New("usage")

const usageLine = "usage: mtasts-postfix [-listen ADDR] [-map NAME] [-strict-testing] [-timeout D] " +
	"[-cache-dir DIR | -redis URL] [-dns ADDR] [-ca FILE] [-https-port N] [-dns-error-grace D] " +
	"[-socket-mode MODE] [-socket-group GROUP] [-overrides FILE] [-log FILE] [-metrics ADDR] " +
	"[-metrics-allow-remote] [-tlsrpt] [-dane] [-idle-timeout D] [-max-conns N] [-v]"

// parseFlags parses args, printing the usage to stderr when they are bad.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	var c config
	fs := flag.NewFlagSet("mtasts-postfix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8461", "TCP host:port to listen on (keep it loopback or firewalled: socketmap has no authentication), or unix:PATH for a Unix socket")
	fs.StringVar(&c.mapName, "map", DefaultMap, "socketmap name requests must carry (the last field of socketmap:inet:host:port:name)")
	fs.BoolVar(&c.strict, "strict-testing", false, "answer testing policies like enforce ones")
	fs.DurationVar(&c.timeout, "timeout", resolver.DefaultFetchTimeout, "deadline of each policy discovery (TXT lookup and HTTPS fetch)")
	fs.StringVar(&c.cacheDir, "cache-dir", "", "directory to keep policies in across restarts (default: memory only)")
	fs.StringVar(&c.redisURL, "redis", "", "share policies with other relays through Redis, redis://[:password@]host:port/db (instead of -cache-dir)")
	fs.StringVar(&c.dns, "dns", "", "DNS server(s) to ask, host[:port], comma-separated (default: /etc/resolv.conf)")
	fs.StringVar(&c.ca, "ca", "", "PEM file of root certificates to trust instead of the system's (reread on SIGHUP)")
	fs.IntVar(&c.httpsPort, "https-port", 0, "port to fetch policies from instead of 443 (for tests)")
	fs.DurationVar(&c.grace, "dns-error-grace", DefaultDNSErrorGrace, "how long a domain whose _mta-sts lookup fails temporarily is answered TEMP (Postfix defers) before NOTFOUND; 0: TEMP for ever; negative: NOTFOUND at once")
	mode := fs.String("socket-mode", "0660", "permissions of the Unix socket, in octal")
	fs.StringVar(&c.socketGroup, "socket-group", DefaultSocketGroup, "group of the Unix socket (default: postfix, when that group exists); empty leaves it alone")
	fs.StringVar(&c.overrides, "overrides", "", "file of per-domain exceptions, lines \"domain skip\" or \"domain enforce\" (reread on SIGHUP)")
	fs.StringVar(&c.logFile, "log", "", "file to log to instead of stderr (reopened on SIGHUP, for logrotate)")
	fs.StringVar(&c.metrics, "metrics", "", "host:port of the HTTP listener for /metrics, /healthz and the admin endpoints (default: none; loopback only unless -metrics-allow-remote)")
	fs.BoolVar(&c.metricsRemote, "metrics-allow-remote", false, "allow -metrics on an address that is not loopback (the admin endpoints still answer loopback clients only)")
	fs.BoolVar(&c.tlsrpt, "tlsrpt", false, "append the policy attributes Postfix 3.10 and later read for TLSRPT (policy_type, policy_domain, mx_host_pattern, policy_string)")
	fs.BoolVar(&c.dane, "dane", false, "the -dns servers validate DNSSEC and are trusted to (a local Unbound): answer \"OK dane-only\" or \"OK dane\" for domains whose MX hosts have DNSSEC-validated TLSA records (needs smtp_dns_support_level = dnssec in main.cf)")
	fs.DurationVar(&c.idle, "idle-timeout", DefaultIdleTimeout, "how long a connection may stay idle between requests")
	fs.IntVar(&c.maxConns, "max-conns", DefaultMaxConns, "connections served at once")
	fs.BoolVar(&c.verbose, "v", false, "log every request at debug level")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLine)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp // help was asked for, and printed
		}
		return nil, errUsage
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "socket-group" {
			c.socketGroupSet = true
		}
	})
	bad := func(format string, a ...any) (*config, error) {
		fmt.Fprintf(stderr, "mtasts-postfix: "+format+"\n", a...)
		fs.Usage()
		return nil, errUsage
	}
	m, err := strconv.ParseUint(*mode, 8, 32)
	switch {
	case fs.NArg() != 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case err != nil || m > 0o777:
		return bad("-socket-mode %q: want octal permissions such as 0660", *mode)
	case c.timeout <= 0, c.idle <= 0:
		return bad("-timeout and -idle-timeout must be positive")
	case c.maxConns <= 0:
		return bad("-max-conns must be positive")
	case c.httpsPort < 0 || c.httpsPort > 65535:
		return bad("-https-port must be 0 to 65535")
	case c.mapName == "" || strings.ContainsAny(c.mapName, " ,:"):
		return bad("-map %q: want a name without spaces, commas or colons", c.mapName)
	case c.cacheDir != "" && c.redisURL != "":
		return bad("-cache-dir and -redis exclude each other")
	}
	c.socketMode = uint32(m)
	if c.metrics != "" {
		if err := checkMetricsAddr(c.metrics, c.metricsRemote); err != nil {
			return bad("-metrics: %v", err)
		}
	}
	if c.socketGroupSet && c.socketGroup != "" {
		if _, err := lookupGroup(c.socketGroup); err != nil {
			return bad("-socket-group: %v", err)
		}
	}
	return &c, nil
}

// errNotLoopback: -metrics names an address that is not loopback.
var errNotLoopback = errors.New("not a loopback address (add -metrics-allow-remote to allow it)")

// checkMetricsAddr checks that addr is host:port, with a loopback host
// unless remote is allowed.
func checkMetricsAddr(addr string, remote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if remote || isLoopbackHost(host) {
		return nil
	}
	return errNotLoopback
}

// isLoopbackHost reports whether host is "localhost" or a loopback address.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lookupGroup returns the id of a group given by name or number.
func lookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if _, numErr := strconv.Atoi(name); numErr == nil {
			g, err = user.LookupGroupId(name)
		}
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

// resolverGrace maps -dns-error-grace to the resolver's convention: the
// flag's 0 (TEMP for ever) is GraceForever, a negative value (NOTFOUND at
// once) stays negative, and a positive one is the grace itself.
func resolverGrace(flagValue time.Duration) time.Duration {
	if flagValue == 0 {
		return GraceForever
	}
	return flagValue
}

package resolver

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/mtasts-go/mtasts/policy"
)

// Defaults of Options.
const (
	DefaultFetchTimeout = 60 * time.Second // RFC 8461 section 3.3 suggests one minute
	DefaultDNSTimeout   = 5 * time.Second
	DefaultMaxBodySize  = 64 << 10 // RFC 8461 section 3.3 suggests 64 kilobytes
	DefaultResolvConf   = "/etc/resolv.conf"
)

// FetchBackoff is how long the resolver waits after a failed fetch before
// fetching the same policy id again (RFC 8461 section 3.3: "five minutes or
// longer per version ID").
const FetchBackoff = 5 * time.Minute

// maxFailures bounds the memory of failed fetches.
const maxFailures = 10000

// failure is a failed fetch, remembered for the backoff.
type failure struct {
	id  string
	at  time.Time
	err error
}

// ErrClosed is returned by calls on a closed Resolver.
var ErrClosed = errors.New("resolver: closed")

// Options configure a Resolver. Every field is optional; the zero value
// gives a resolver that uses the system's name servers and root
// certificates.
type Options struct {
	// DNS are the name servers to ask, as "host:port", in order. Default:
	// the servers of /etc/resolv.conf. Only their answers are used: the
	// policy host's addresses come from them too, so that a test world
	// (or a split-horizon DNS) is a whole world.
	DNS []string

	// DNSTimeout bounds each DNS query to one server. Default 5 s.
	DNSTimeout time.Duration

	// RootCAs are the roots trusted for the policy host's certificate
	// (and, through Decision.TLSConfig, for MX hosts). Default: the system
	// pool.
	RootCAs *x509.CertPool

	// HTTPSPort, if not 0, is the port dialled to fetch policies instead
	// of 443. For tests: the URL, the Host header and SNI stay those of
	// mta-sts.<domain>.
	HTTPSPort int

	// FetchTimeout bounds a whole discovery: the TXT query, the policy
	// host's addresses, the connection, TLS and the body. Default 60 s.
	FetchTimeout time.Duration

	// MaxBodySize caps the policy body after any decoding. Default 64 KiB.
	MaxBodySize int64

	// Proxy, if set, chooses an HTTP proxy for policy fetches, as
	// http.Transport.Proxy does. Default: no proxy, whatever the
	// environment says.
	Proxy func(*http.Request) (*url.URL, error)

	// Clock returns the current time. Default: time.Now. Every decision
	// that depends on time (expiry, backoff, refresh) uses it.
	Clock func() time.Time

	// OnTemporaryError is the action when the _mta-sts TXT lookup fails
	// temporarily (SERVFAIL, REFUSED, a timeout) and no valid policy is
	// cached: whether the domain has a policy is unknown. Defer (the
	// default) retries later, as RFC 5321 does for a failed MX lookup;
	// DeliverWithoutSTS delivers as if there were no policy.
	OnTemporaryError Action

	// Events receive what happens to policies. Optional.
	Events Events
}

// Events are hooks called when something happens to a domain's policy.
// Every field is optional. The hooks are called synchronously, possibly
// from several goroutines at once: keep them fast and safe for concurrent
// use.
type Events struct {
	// Fetched: a policy was fetched and is valid.
	Fetched func(domain, id string, p *policy.Policy, warnings []policy.Warning)
	// FetchFailed: a policy could not be fetched, or was invalid. err is a
	// *FetchError.
	FetchFailed func(domain, id string, err error)
	// TLSResult: a handshake configured by Decision.TLSConfig under a
	// testing or enforce policy was validated; err is nil on success or a
	// *validate.Error (see validate.ResultOf for its result type).
	TLSResult func(domain, mx, id string, err error)
}

// Resolver discovers, fetches, caches and applies MTA-STS policies. It is
// safe for concurrent use. Close it when done: every goroutine it starts
// stops in Close.
type Resolver struct {
	opts     Options
	clock    func() time.Time
	dns      *dnsClient
	fetch    *fetcher
	group    singleflight.Group
	entries  sync.Map // domain → *entry
	failures *lru.Cache[string, failure]

	ctx    context.Context // cancelled by Close; bounds all shared work
	cancel context.CancelFunc
	closed atomic.Bool
	coarse coarseClock
	mu     sync.Mutex // orders closing and the wg.Add of new work
	wg     sync.WaitGroup
}

// entry is a cached policy.
type entry struct {
	domain    string
	id        string
	policy    *policy.Policy
	warnings  []policy.Warning
	fetchedAt time.Time
	expires   time.Time
	expiresAt int64 // expires in Unix nanoseconds, for the hot path
}

// New returns a Resolver configured by opts.
func New(opts Options) (*Resolver, error) {
	if opts.DNSTimeout <= 0 {
		opts.DNSTimeout = DefaultDNSTimeout
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.MaxBodySize <= 0 {
		opts.MaxBodySize = DefaultMaxBodySize
	}
	switch opts.OnTemporaryError {
	case 0:
		opts.OnTemporaryError = Defer
	case Defer, DeliverWithoutSTS:
	default:
		return nil, errors.New("resolver: OnTemporaryError must be Defer or DeliverWithoutSTS")
	}
	if len(opts.DNS) == 0 {
		servers, err := systemServers(DefaultResolvConf)
		if err != nil {
			return nil, err
		}
		opts.DNS = servers
	}
	opts.DNS = append([]string(nil), opts.DNS...)
	r := &Resolver{opts: opts, clock: opts.Clock}
	if r.clock == nil {
		r.clock = time.Now
	}
	r.dns = newDNSClient(opts.DNS, opts.DNSTimeout)
	r.fetch = newFetcher(r.dns, opts.RootCAs, opts.HTTPSPort, opts.MaxBodySize, opts.Proxy)
	r.failures, _ = lru.New[string, failure](maxFailures) // cannot fail for a positive size
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if opts.Clock == nil {
		r.coarse.set(time.Now())
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.coarse.run(r.ctx.Done())
		}()
	}
	return r, nil
}

// Close stops the resolver: shared lookups in flight are cancelled, and
// Close returns when every goroutine the resolver started has stopped.
// Calls after Close fail with ErrClosed. Close is idempotent.
func (r *Resolver) Close() error {
	r.mu.Lock()
	r.closed.Store(true)
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// start registers a goroutine of the resolver's own, or reports that the
// resolver is closed.
func (r *Resolver) start() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return false
	}
	r.wg.Add(1)
	return true
}

package resolver

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mtasts-go/mtasts/cache"
	"golang.org/x/sync/singleflight"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/policy"
)

// Defaults of Options.
const (
	DefaultFetchTimeout = 60 * time.Second // RFC 8461 section 3.3 suggests one minute
	DefaultDNSTimeout   = 5 * time.Second
	DefaultMaxBodySize  = 64 << 10 // RFC 8461 section 3.3 suggests 64 kilobytes
	DefaultResolvConf   = "/etc/resolv.conf"

	DefaultRevalidateInterval = 5 * time.Minute
	DefaultRefreshBefore      = 24 * time.Hour
	DefaultNoPolicyTTL        = 5 * time.Minute

	// DefaultTemporaryErrorGrace is the grace of Options.TemporaryErrorGrace
	// when it is 0: long enough for an MTA to retry once or twice.
	DefaultTemporaryErrorGrace = 30 * time.Minute
)

// GraceForever, as Options.TemporaryErrorGrace, defers delivery for as long
// as the domain's _mta-sts lookups fail temporarily: until the MTA gives
// the message up.
const GraceForever = time.Duration(math.MaxInt64)

// maxBackground bounds the background revalidations running at once.
const maxBackground = 16

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

// ErrNotInitialised is returned by calls on a Resolver that New did not
// make, such as a zero Resolver{}: use New.
var ErrNotInitialised = errors.New("resolver: not initialised (use New)")

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

	// Store keeps policies across restarts, or shares them among a fleet
	// (cache.DirStore, cache/redisstore). Default: none, policies are kept
	// in memory only. New returns at once and loads the stored unexpired
	// policies into memory in the background (see Warming); a verdict
	// never waits for a store write, which a queue commits in groups
	// (cache.Open says what a crash can lose). A store that fails is
	// reported through Events.StoreError and never stops delivery.
	Store cache.Store

	// CacheSize bounds the number of policies kept in memory. Default
	// cache.DefaultSize. Evicted policies stay in the Store, if any.
	CacheSize int

	// RevalidateInterval is how long a cached policy is served before its
	// TXT record is checked again, in the background (a new id means a
	// background refetch). Default 5 minutes.
	RevalidateInterval time.Duration

	// RefreshBefore is how long before expiry the background loop
	// refreshes a cached policy (RFC 8461 section 10.2), with a jitter of
	// up to a quarter of it per domain; a policy is never refreshed before
	// half its max_age. Default 24 hours.
	RefreshBefore time.Duration

	// NoPolicyTTL is how long the resolver remembers that a domain has no
	// usable _mta-sts record (none, several, or an invalid one), sparing a
	// TXT query per delivery to the many domains without MTA-STS. A domain
	// that starts publishing a policy is seen that much later, as with a
	// DNS negative cache. Default 5 minutes; negative disables it.
	NoPolicyTTL time.Duration

	// Overrides are an operator's exceptions, per policy domain (any case,
	// A-labels or U-labels): Skip never applies MTA-STS to the domain,
	// ForceEnforce applies its testing policy as if it were enforce.
	Overrides map[string]Override

	// OnTemporaryError is the action when the _mta-sts TXT lookup fails
	// temporarily (SERVFAIL, REFUSED, a timeout, a referral or lame
	// answer) and no valid policy is cached: whether the domain has a
	// policy is unknown. Defer (the default) retries later, as RFC 5321
	// does for a failed MX lookup, for at most TemporaryErrorGrace;
	// DeliverWithoutSTS delivers at once as if there were no policy.
	OnTemporaryError Action

	// TemporaryErrorGrace bounds Defer under OnTemporaryError: a delivery
	// is deferred while the domain's _mta-sts lookups have failed for less
	// than the grace (counted from the first failure of an unbroken run,
	// remembered per domain in bounded memory), and then goes on without
	// MTA-STS (ReasonGraceOver). 0 means DefaultTemporaryErrorGrace (30
	// minutes); a negative grace delivers at once; GraceForever defers for
	// ever. See the package documentation for why the default is neither.
	TemporaryErrorGrace time.Duration

	// Events receive what happens to policies. Optional.
	Events Events

	// DNSSEC says that the DNS servers validate DNSSEC and are trusted to
	// (normally a validating resolver on the same host, such as Unbound),
	// as Postfix's smtp_dns_support_level = dnssec does. It turns DANE
	// (RFC 7672) on: Check then looks up the TLSA records of each MX host
	// whose MX RRset and addresses are secure (by the AD bit of the
	// answers: the library checks no signature), and a host with usable
	// records is governed by DANE whatever the MTA-STS mode (RFC 8461
	// section 2). See Decision.DANEStatus. Default: off, and no DNSSEC
	// query is ever sent.
	DNSSEC bool
}

// Override is an operator's exception for one domain (Options.Overrides).
type Override uint8

// The overrides.
const (
	// Skip: deliver to the domain without MTA-STS, without even looking
	// its policy up (for a domain whose broken policy an operator has
	// chosen to ignore).
	Skip Override = iota + 1
	// ForceEnforce: apply the domain's policy as enforce when it says
	// testing (for a domain an operator knows to be ready). Mode none and
	// no policy stay as they are.
	ForceEnforce
)

// Events are hooks called when something happens to a domain's policy.
// Every field is optional. A hook is called once per event, after the
// lookup or fetch that caused it is over, from the goroutine of the call
// that started it (a Check, a Lookup, a Refresh or a background refresh),
// so it may call the Resolver itself. Hooks may run on several goroutines
// at once: keep them fast and safe for concurrent use.
type Events struct {
	// Fetched: a policy was fetched and is valid.
	Fetched func(domain, id string, p *policy.Policy, warnings []policy.Warning)
	// Changed: a fetched policy replaced a cached one with another id.
	Changed func(domain, oldID, newID string)
	// Downgraded: the policy that replaced a cached one is weaker (mode
	// none, or enforce to testing). That is how a domain retires MTA-STS
	// (RFC 8461 section 8.3), and what an attacker able to publish a
	// policy would do: worth an operator's attention.
	Downgraded func(domain string, old, new *policy.Policy)
	// FetchFailed: a policy could not be fetched, or was invalid. err is a
	// *FetchError.
	FetchFailed func(domain, id string, err error)
	// ServedStale: a refresh failed (TXT lookup or fetch), and the cached
	// policy, still valid, keeps applying (RFC 8461 section 3.3). RFC 8461
	// section 3.3 says to alert administrators when this persists.
	ServedStale func(domain, id string, err error)
	// StoreError: the Store failed, or a write to it was dropped (the
	// error then wraps cache.ErrQueueFull); the resolver goes on from
	// memory. Failures of the background writes and of the warm are
	// reported from the cache's own goroutine.
	StoreError func(err error)
	// Warmed: the background loading of stored policies that New starts
	// is over (see Resolver.Warming). Not called without a Store.
	Warmed func(cache.WarmProgress)
	// TLSResult: a handshake configured by Decision.TLSConfig under a
	// testing or enforce policy was validated; err is nil on success or a
	// *validate.Error (see validate.ResultOf for its result type).
	TLSResult func(domain, mx, id string, err error)
}

// Resolver discovers, fetches, caches and applies MTA-STS policies. It is
// safe for concurrent use. Close it when done: every goroutine it starts
// stops in Close.
type Resolver struct {
	opts       Options
	clock      func() time.Time
	dns        *dnsclient.Client
	sec        *dnsclient.Client               // dns in DNSSEC mode, nil unless Options.DNSSEC
	daneHosts  *lru.Cache[daneKey, *daneHost]  // DANE status of an MX host of a domain, until when
	mxSec      *lru.Cache[string, *mxSecurity] // domain → MX RRset security, until when
	fetch      *fetcher
	group      singleflight.Group
	cache      *cache.Cache
	failures   *lru.Cache[string, failure]   // failed fetches with nothing cached
	mismatches *lru.Cache[string, time.Time] // last TXT check caused by a mismatching MX
	noPolicy   *lru.Cache[string, time.Time] // domains without a usable record, until when
	dnsFailing *lru.Cache[string, dnsRun]    // domains whose TXT lookups fail, since when
	staleErrs  *lru.Cache[string, error]     // why a cached policy's last refresh failed
	pending    sync.Map                      // domain → record id: a discovery's fetch is running
	bgSlots    chan struct{}                 // one per background revalidation running
	refreshing sync.Map                      // domain → struct{}: a background refresh is running

	ctx    context.Context // cancelled by Close; bounds all shared work
	cancel context.CancelFunc
	closed atomic.Bool
	coarse coarseClock
	mu     sync.Mutex // orders closing and the wg.Add of new work
	wg     sync.WaitGroup
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
	if opts.RevalidateInterval <= 0 {
		opts.RevalidateInterval = DefaultRevalidateInterval
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = DefaultRefreshBefore
	}
	if opts.NoPolicyTTL == 0 {
		opts.NoPolicyTTL = DefaultNoPolicyTTL
	}
	if opts.TemporaryErrorGrace == 0 {
		opts.TemporaryErrorGrace = DefaultTemporaryErrorGrace
	}
	switch opts.OnTemporaryError {
	case 0:
		opts.OnTemporaryError = Defer
	case Defer, DeliverWithoutSTS:
	default:
		return nil, errors.New("resolver: OnTemporaryError must be Defer or DeliverWithoutSTS")
	}
	if len(opts.DNS) == 0 {
		servers, err := dnsclient.SystemServers(DefaultResolvConf)
		if err != nil {
			return nil, err
		}
		opts.DNS = servers
	}
	opts.DNS = append([]string(nil), opts.DNS...)
	overrides := make(map[string]Override, len(opts.Overrides))
	for d, o := range opts.Overrides {
		n, err := Normalize(d)
		if err != nil {
			return nil, err
		}
		if o != Skip && o != ForceEnforce {
			return nil, fmt.Errorf("resolver: override of %s: unknown value %d", d, o)
		}
		overrides[n] = o
	}
	opts.Overrides = overrides
	r := &Resolver{opts: opts, clock: opts.Clock}
	if r.clock == nil {
		r.clock = time.Now
	}
	r.dns = dnsclient.New(opts.DNS, opts.DNSTimeout)
	if opts.DNSSEC {
		r.sec = r.dns.WithDNSSEC()
		r.daneHosts, _ = lru.New[daneKey, *daneHost](maxDANEHosts)
		r.mxSec, _ = lru.New[string, *mxSecurity](maxDANEHosts)
	}
	r.fetch = newFetcher(r.dns, opts.RootCAs, opts.HTTPSPort, opts.MaxBodySize, opts.FetchTimeout, opts.Proxy)
	r.failures, _ = lru.New[string, failure](maxFailures) // cannot fail for a positive size
	r.mismatches, _ = lru.New[string, time.Time](maxFailures)
	r.noPolicy, _ = lru.New[string, time.Time](maxFailures)
	r.dnsFailing, _ = lru.New[string, dnsRun](maxFailures)
	r.staleErrs, _ = lru.New[string, error](maxFailures)
	r.bgSlots = make(chan struct{}, maxBackground)
	// Store writes and the warm run behind the cache, off the delivery path.
	r.cache = cache.Open(cache.Options{Size: opts.CacheSize, Store: opts.Store, Warm: true,
		Clock: r.clock, OnStoreError: r.storeError, OnWarmed: opts.Events.Warmed})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if opts.Clock == nil {
		r.coarse.set(time.Now())
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.coarse.run(r.ctx.Done())
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.refreshLoop()
	}()
	return r, nil
}

// Close stops the resolver: shared lookups in flight are cancelled, and
// Close returns when every goroutine the resolver started has stopped.
// Calls after Close fail with ErrClosed. Close is idempotent.
func (r *Resolver) Close() error {
	if r.cancel == nil {
		return nil // not made by New: nothing runs
	}
	r.mu.Lock()
	r.closed.Store(true)
	r.mu.Unlock()
	r.cancel()
	// Since Go 1.23 this also cancels the transport's dials in progress,
	// which run detached from the request that started them.
	r.fetch.client.CloseIdleConnections()
	r.wg.Wait()
	return r.cache.Close() // commits the pending store writes
}

// Warming returns the progress of the loading of stored policies into
// memory, which New starts in the background; until it is done, a policy
// not yet in memory is read from the Store (while its _mta-sts record is
// looked up) and, if stored and unexpired, served without a fetch.
func (r *Resolver) Warming() cache.WarmProgress { return r.cache.Warming() }

// storeError reports a failure of the Store, if err is one.
func (r *Resolver) storeError(err error) {
	if err != nil && r.opts.Events.StoreError != nil {
		r.opts.Events.StoreError(err)
	}
}

// rememberNoPolicy notes that domain has no usable record, for NoPolicyTTL.
func (r *Resolver) rememberNoPolicy(domain string, now time.Time) {
	if r.opts.NoPolicyTTL > 0 {
		r.noPolicy.Add(domain, now.Add(r.opts.NoPolicyTTL))
	}
}

// knownNoPolicy reports whether domain was lately found to have no usable
// record.
func (r *Resolver) knownNoPolicy(domain string) bool {
	until, ok := r.noPolicy.Get(domain)
	return ok && r.clock().Before(until)
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

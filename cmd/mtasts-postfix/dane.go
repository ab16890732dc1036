package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/mtasts-go/mtasts/dane"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/resolver"
)

// DANELevel is what DANE (RFC 7672) says of a next-hop domain as a whole,
// as one Postfix TLS security level.
type DANELevel uint8

// The DANE levels of a domain.
const (
	// DANENotApplicable: the MX RRset is not DNSSEC-secure, or no MX host
	// has TLSA records: MTA-STS (if any) decides the answer.
	DANENotApplicable DANELevel = iota
	// DANEPerHost: the MX RRset is secure and some MX hosts have TLSA
	// records (usable, unusable, or a lookup that failed validation):
	// answered "OK dane", Postfix applies DANE host by host.
	DANEPerHost
	// DANEAllHosts: the MX RRset is secure and every MX host has usable
	// secure TLSA records: answered "OK dane-only".
	DANEAllHosts
)

// The replies of DANE.
var (
	replyDANE     = []byte("OK dane")
	replyDANEOnly = []byte("OK dane-only")
)

// A DANEChecker says what DANE says of a next-hop domain. It must bound
// the time a lookup takes.
type DANEChecker interface {
	DANELevel(ctx context.Context, domain string) (DANELevel, error)
}

// A hostDANE says what DANE says of one MX host of a domain, as
// resolver.Resolver.DANE does.
type hostDANE interface {
	DANE(ctx context.Context, domain, mx string) (resolver.DANEStatus, *dane.Set, error)
}

// How long a domain's DANE level is remembered: the MX RRset's TTL within
// [daneMinTTL, daneMaxTTL]; a failed lookup, daneFailTTL. The host
// statuses themselves are cached by the resolver for their own TTLs.
const (
	daneMinTTL     = 10 * time.Second
	daneMaxTTL     = 5 * time.Minute
	daneFailTTL    = 30 * time.Second
	daneCacheSize  = 100000
	maxDANEMXHosts = 32
)

// daneLookup is the DANEChecker of the daemon: it looks up the domain's
// MX RRset with the DNSSEC status (from a validating resolver the
// operator trusts) and asks the resolver about each MX host.
type daneLookup struct {
	mx      *dnsclient.Client // made with WithDNSSEC
	hosts   hostDANE
	timeout time.Duration // bounds one domain's lookups
	now     func() time.Time

	group  singleflight.Group
	cache  *lru.Cache[string, daneCached]
	initMu sync.Once
}

type daneCached struct {
	level DANELevel
	err   error
	until time.Time
}

func newDANELookup(mx *dnsclient.Client, hosts hostDANE, timeout time.Duration) *daneLookup {
	return &daneLookup{mx: mx, hosts: hosts, timeout: timeout, now: time.Now}
}

func (l *daneLookup) init() {
	l.initMu.Do(func() {
		l.cache, _ = lru.New[string, daneCached](daneCacheSize)
		if l.now == nil {
			l.now = time.Now
		}
	})
}

// DANELevel returns the DANE level of domain, from the cache or from the
// DNS (one lookup per domain at a time).
func (l *daneLookup) DANELevel(ctx context.Context, domain string) (DANELevel, error) {
	l.init()
	if c, ok := l.cache.Get(domain); ok && l.now().Before(c.until) {
		return c.level, c.err
	}
	ch := l.group.DoChan(domain, func() (any, error) {
		// The lookup goes on for the other callers when this one gives
		// up; the timeout bounds it.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orDefault(l.timeout, resolver.DefaultFetchTimeout))
		defer cancel()
		c := l.lookup(lctx, domain)
		if !errors.Is(c.err, resolver.ErrClosed) {
			l.cache.Add(domain, c)
		}
		return c, nil
	})
	select {
	case res := <-ch:
		c := res.Val.(daneCached)
		return c.level, c.err
	case <-ctx.Done():
		return DANENotApplicable, ctx.Err()
	}
}

// lookup finds the DANE level of domain: the MX RRset must be secure
// (RFC 7672 section 2.2.1) for any TLSA record to count.
func (l *daneLookup) lookup(ctx context.Context, domain string) daneCached {
	now := l.now()
	a, err := l.mx.LookupSecure(ctx, domain, dns.TypeMX)
	if err != nil {
		return daneCached{err: err, until: now.Add(daneFailTTL)}
	}
	ttl := daneMaxTTL
	var hosts []string
	for _, rr := range a.RRs {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue // a CNAME of the chain
		}
		ttl = min(ttl, max(time.Duration(mx.Hdr.Ttl)*time.Second, daneMinTTL))
		hosts = append(hosts, strings.ToLower(strings.TrimSuffix(mx.Mx, ".")))
	}
	until := now.Add(ttl)
	if !a.Secure {
		return daneCached{level: DANENotApplicable, until: until}
	}
	switch {
	case !a.Exists:
		// A secure denial: the domain is its own MX host (RFC 5321
		// section 5.1; RFC 7672 section 2.2.1).
		hosts = []string{domain}
	case len(hosts) == 1 && hosts[0] == "":
		// A null MX (RFC 7505): the domain accepts no mail.
		return daneCached{level: DANENotApplicable, until: until}
	case len(hosts) > maxDANEMXHosts:
		// Too many hosts to look up each: let Postfix apply DANE host by
		// host, which never lets anything override it.
		return daneCached{level: DANEPerHost, until: until}
	}
	// The hosts are looked up at once (at most maxDANEMXHosts of them),
	// so that a cold domain costs one round of lookups, not one per host.
	statuses := make([]resolver.DANEStatus, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { statuses[i], _, errs[i] = l.hosts.DANE(ctx, domain, h) })
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case errors.Is(err, resolver.ErrClosed), errors.Is(err, resolver.ErrDANEOff):
			return daneCached{err: err, until: now.Add(daneFailTTL)}
		case err != nil && statuses[i] != resolver.DANEBogus:
			// An MX target that is no host name: Postfix cannot use it
			// either, so DANE says nothing of it.
			statuses[i] = resolver.DANENone
		}
	}
	return daneCached{level: levelOf(statuses), until: until}
}

// levelOf returns the DANE level of a domain whose MX RRset is secure,
// from the DANE statuses of its MX hosts: DANEAllHosts when every host has
// usable secure TLSA records; DANEPerHost when some host has TLSA records
// (usable, unusable, or bogus: a host that fails validation must be
// skipped, RFC 7672 section 2.2, and nothing weaker than DANE may decide
// it, RFC 8461 section 2); DANENotApplicable when none has (DANE decides
// nothing, MTA-STS decides).
func levelOf(statuses []resolver.DANEStatus) DANELevel {
	all, some := len(statuses) > 0, false
	for _, st := range statuses {
		if st != resolver.DANESecure {
			all = false
		}
		if st != resolver.DANENone {
			some = true
		}
	}
	switch {
	case all:
		return DANEAllHosts
	case some:
		return DANEPerHost
	}
	return DANENotApplicable
}

// daneReply returns the DANE answer for domain, and false when DANE
// decides nothing and MTA-STS should.
func (s *Server) daneReply(ctx context.Context, domain string, buf *answerBuf) ([]byte, bool) {
	level, err := s.DANE.DANELevel(ctx, domain)
	switch {
	case errors.Is(err, resolver.ErrClosed):
		return replyClosed, true
	case err != nil:
		// The MX lookup failed (bogus, SERVFAIL, timeout): whether DANE
		// applies is unknown, and an MTA-STS answer could override it
		// (RFC 8461 section 2). Postfix's own MX lookup would most often
		// fail the same way and defer the mail: defer, within the same
		// -dns-error-grace as a failed _mta-sts lookup; after it, the
		// MTA-STS answer.
		s.Metrics.dnsFailed()
		temp, first := s.grace().failed(daneGraceKey(domain))
		if first {
			s.log().Info("DANE MX lookup failed temporarily", "domain", domain, "err", err, "answer", daneFailedAnswer(temp))
		} else {
			s.log().Debug("answer", "domain", domain, "reply", daneFailedAnswer(temp), "why", "DANE: MX lookup failed", "err", err)
		}
		if !temp {
			return nil, false
		}
		return tempReply(buf, "DANE: ", err.Error()), true
	}
	if g := s.grace(); g.n.Load() != 0 { // no key to build when nothing fails
		g.succeeded(daneGraceKey(domain))
	}
	switch {
	case level == DANEAllHosts:
		if s.debug() {
			s.log().Debug("answer", "domain", domain, "reply", string(replyDANEOnly), "why", "every MX host has usable DNSSEC-validated TLSA records")
		}
		return replyDANEOnly, true
	case level == DANEPerHost:
		if s.debug() {
			s.log().Debug("answer", "domain", domain, "reply", string(replyDANE), "why", "some MX hosts have DNSSEC-validated TLSA records")
		}
		return replyDANE, true
	}
	return nil, false
}

// daneGraceKey is the key of domain's failed MX lookups in the grace
// tracker: apart from its _mta-sts lookups (a domain name has no space),
// so that an MTA-STS answer does not end a run of MX failures.
func daneGraceKey(domain string) string { return "mx " + domain }

// daneFailedAnswer names the answer to a failed DANE MX lookup.
func daneFailedAnswer(temp bool) string {
	if temp {
		return "TEMP"
	}
	return "MTA-STS"
}

package main

import (
	"errors"
	"iter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
)

// Metrics are the Prometheus metrics of the server, all under the
// mtasts_postfix_ prefix (docs/postfix.md lists them). A nil *Metrics
// counts nothing. The counters of the request path are resolved to their
// label values once, so that counting costs one atomic add.
type Metrics struct {
	Registry *prometheus.Registry

	answerOK, answerNotFound, answerTemp prometheus.Counter
	cacheHits, staleServes, fetchedNow   prometheus.Counter
	dnsTempFailures                      prometheus.Counter
	fetches                              *prometheus.CounterVec
	downgrades, changes                  prometheus.Counter
	storeErrors                          prometheus.Counter
	connsOpen                            prometheus.Gauge
	connsTotal                           prometheus.Counter
}

// NewMetrics registers the metrics in a new registry, with Go's and the
// process's own. cached, if not nil, lists the cached policies for the
// gauges computed at each scrape (the number of policies and the refresh
// lag).
func NewMetrics(cached func() iter.Seq[resolver.Entry], clock func() time.Time) *Metrics {
	if clock == nil {
		clock = time.Now
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "mtasts_postfix_" + name, Help: help})
		reg.MustRegister(c)
		return c
	}
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mtasts_postfix_queries_total",
		Help: "Socketmap requests answered, by answer: ok (a policy applies), notfound, temp (Postfix defers).",
	}, []string{"answer"})
	fetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mtasts_postfix_fetches_total",
		Help: "Policy fetches, by result: ok, or the RFC 8460 result type of the failure (sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid).",
	}, []string{"result"})
	reg.MustRegister(queries, fetches)
	m := &Metrics{
		Registry:        reg,
		answerOK:        queries.WithLabelValues("ok"),
		answerNotFound:  queries.WithLabelValues("notfound"),
		answerTemp:      queries.WithLabelValues("temp"),
		cacheHits:       f("cache_hits_total", "Requests answered from a cached policy, stale ones included."),
		staleServes:     f("stale_serves_total", "Requests answered from a cached policy whose last refresh failed (RFC 8461 section 3.3: it applies until it expires)."),
		fetchedNow:      f("cache_misses_total", "Requests whose policy was fetched for them."),
		dnsTempFailures: f("dns_temporary_failures_total", "Temporary DNS failures of requests: an _mta-sts TXT lookup with no policy cached, or under -dane an MX lookup."),
		fetches:         fetches,
		downgrades:      f("downgrades_total", "Cached policies replaced by a weaker one (mode none, or enforce to testing)."),
		changes:         f("policy_changes_total", "Cached policies replaced by one with another id."),
		storeErrors:     f("store_errors_total", "Failures of the cache store (-cache-dir or -redis); memory keeps serving."),
		connsTotal:      f("connections_total", "Socketmap connections accepted."),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtasts_postfix_connections_open", Help: "Socketmap connections open now.",
		}),
	}
	reg.MustRegister(m.connsOpen)
	for _, r := range []string{"ok", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"} {
		fetches.WithLabelValues(r) // present at 0 from the start
	}
	if cached != nil {
		reg.MustRegister(&cacheCollector{cached: cached, clock: clock})
	}
	return m
}

func (m *Metrics) answered(reply []byte) {
	if m == nil {
		return
	}
	switch reply[0] {
	case 'O':
		m.answerOK.Inc()
	case 'N':
		m.answerNotFound.Inc()
	default:
		m.answerTemp.Inc()
	}
}

func (m *Metrics) served(src resolver.Source) {
	if m == nil {
		return
	}
	switch src {
	case resolver.SourceFetched:
		m.fetchedNow.Inc()
	case resolver.SourceStale:
		m.staleServes.Inc()
		m.cacheHits.Inc()
	default:
		m.cacheHits.Inc()
	}
}

func (m *Metrics) dnsFailed() {
	if m != nil {
		m.dnsTempFailures.Inc()
	}
}

func (m *Metrics) connOpened() {
	if m != nil {
		m.connsTotal.Inc()
		m.connsOpen.Inc()
	}
}

func (m *Metrics) connClosed() {
	if m != nil {
		m.connsOpen.Dec()
	}
}

// events wraps the resolver's event hooks to count what they report,
// calling next's hooks too.
func (m *Metrics) events(next resolver.Events) resolver.Events {
	if m == nil {
		return next
	}
	ev := next
	ev.Fetched = func(domain, id string, p *policy.Policy, w []policy.Warning) {
		m.fetches.WithLabelValues("ok").Inc()
		if next.Fetched != nil {
			next.Fetched(domain, id, p, w)
		}
	}
	ev.FetchFailed = func(domain, id string, err error) {
		result := "sts-policy-fetch-error"
		var fe *resolver.FetchError
		if errors.As(err, &fe) {
			result = string(fe.Result())
		}
		m.fetches.WithLabelValues(result).Inc()
		if next.FetchFailed != nil {
			next.FetchFailed(domain, id, err)
		}
	}
	ev.Downgraded = func(domain string, old, new *policy.Policy) {
		m.downgrades.Inc()
		if next.Downgraded != nil {
			next.Downgraded(domain, old, new)
		}
	}
	ev.Changed = func(domain, oldID, newID string) {
		m.changes.Inc()
		if next.Changed != nil {
			next.Changed(domain, oldID, newID)
		}
	}
	ev.StoreError = func(err error) {
		m.storeErrors.Inc()
		if next.StoreError != nil {
			next.StoreError(err)
		}
	}
	return ev
}

// cacheCollector computes, at each scrape, the gauges that depend on the
// whole cache.
type cacheCollector struct {
	cached func() iter.Seq[resolver.Entry]
	clock  func() time.Time
}

var (
	descCached = prometheus.NewDesc("mtasts_postfix_cached_policies",
		"Policies cached in memory and unexpired, by mode.", []string{"mode"}, nil)
	descLag = prometheus.NewDesc("mtasts_postfix_refresh_lag_seconds",
		"Seconds since the TXT record of the least recently checked cached policy was checked: it stays near the revalidation interval (5 minutes) for the policies in use when refreshes work.", nil, nil)
	descExpiring = prometheus.NewDesc("mtasts_postfix_expiring_policies",
		"Cached policies that expire within 24 hours (a refresh that keeps failing shows here first).", nil, nil)
)

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCached
	ch <- descLag
	ch <- descExpiring
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.clock()
	counts := map[string]int{"enforce": 0, "testing": 0, "none": 0}
	var lag time.Duration
	expiring := 0
	for e := range c.cached() {
		if !now.Before(e.Expires) {
			continue
		}
		counts[e.Policy.Mode.String()]++
		lag = max(lag, now.Sub(e.CheckedAt))
		if e.Expires.Sub(now) < 24*time.Hour {
			expiring++
		}
	}
	for mode, n := range counts {
		ch <- prometheus.MustNewConstMetric(descCached, prometheus.GaugeValue, float64(n), mode)
	}
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, lag.Seconds())
	ch <- prometheus.MustNewConstMetric(descExpiring, prometheus.GaugeValue, float64(expiring))
}

package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
)

// Defaults of [ReporterOptions].
const (
	DefaultMaxDelay = 4 * time.Hour // RFC 8460 section 4.1's example: 1 to 14400 s
	DefaultWorkers  = 4
	// DefaultFlushInterval is how often a Reporter pushes its counts to
	// its Fleet.
	DefaultFlushInterval = 10 * time.Second
)

// ErrUnsigned is returned by [NewReporter] when reports could go out by
// mail without a DKIM signature, which RFC 8460 section 3 forbids: set
// ReporterOptions.DKIM, or opt out with SendUnsignedMail.
var ErrUnsigned = errors.New("report mail would be unsigned: set DKIM or SendUnsignedMail")

// ErrClosed is returned by the methods of a closed [Reporter].
var ErrClosed = errors.New("reporter closed")

// ReporterOptions configure a [Reporter]. OrganizationName, ContactInfo
// and DNS are required; the zero value of every other field works.
type ReporterOptions struct {
	// OrganizationName and ContactInfo say who sends the reports (see
	// [ReportOptions]).
	OrganizationName string
	ContactInfo      string
	// NodeID, letters and digits, tells this node's reports apart from
	// those of other nodes sharing ContactInfo's domain: it goes into
	// report ids and file names. Default: DefaultNodeID of ContactInfo
	// and Dir, stable across restarts of one configuration on one host.
	NodeID string

	// Dir is the state directory (created if missing, but not its
	// parent): a journal of every result counted and a snapshot, so that
	// a restart, even after a crash, neither loses nor doubles a count. "": no persistence (tests, or an MTA that accepts
	// losing a day's counts on restart).
	Dir string

	// DNS looks up the "_smtp._tls" records of policy domains. Required.
	DNS TXTResolver

	// Submit sends a report message by mail (see [SubmitSMTP]): from is
	// the envelope sender, to the recipients. It must deliver whatever
	// the receiving side's TLS policy says (the message carries
	// "TLS-Required: No", RFC 8689). Nil: mailto destinations fail
	// permanently.
	Submit func(ctx context.Context, from string, to []string, msg []byte) error
	// DKIM signs every report message (RFC 8460 section 3 requires it).
	// With Submit set and DKIM nil, NewReporter fails with ErrUnsigned
	// unless SendUnsignedMail is true.
	DKIM *DKIM
	// SendUnsignedMail allows report mail without a DKIM signature: for
	// a submission server that signs outgoing mail itself.
	SendUnsignedMail bool
	// From is the address report mail comes from, envelope and header.
	// Default: ContactInfo. Sessions that carry mail from it are the
	// Reporter's own and are not counted (see Result.MailFrom).
	From string

	// Delivery configures the HTTPS posts and the retries: RootCAs, DNS,
	// HTTPSPort, Timeout, InsecureSkipVerify, Backoff (default 5 min,
	// doubling) and MaxRetryTime (default 24 h). Its Mail, Sign, From,
	// UniqueID and Clock are set by the Reporter.
	Delivery SenderOptions

	// Recorder bounds the counts (see [Options]); its Clock and
	// RecordStatus are set by the Reporter.
	Recorder Options

	// Clock is the time source. Default: the system clock.
	Clock Clock
	// MaxDelay spreads the sending of a day's reports: they go out at a
	// random time between 00:00 UTC of the next day and MaxDelay later
	// (RFC 8460 section 4.1). Default DefaultMaxDelay; negative: no delay.
	MaxDelay time.Duration
	// Workers bounds the deliveries in flight. Default DefaultWorkers.
	Workers int
	// Random returns a random duration in [0, n) for the delay; for
	// tests. Default: math/rand/v2.
	Random func(n time.Duration) time.Duration

	// Fleet, if set, shares the counts with the Reporters of other nodes
	// and has each report sent once (see tlsrpt/redisreport). Every node
	// needs its own NodeID.
	Fleet Fleet
	// FlushInterval is how often counts are pushed to the Fleet. Default
	// DefaultFlushInterval.
	FlushInterval time.Duration

	// OnDelivery, if set, is called after each attempt to deliver a
	// report (from a goroutine of the Reporter; it must not block).
	OnDelivery func(DeliveryEvent)
}

// DeliveryEvent is the outcome of one attempt at one day's report for one
// policy domain.
type DeliveryEvent struct {
	Day    time.Time // the UTC day reported
	Domain string    // the policy domain
	// Err is nil when the report was accepted.
	Err error
	// Final is true when no attempt follows: accepted, failed
	// permanently, no record, or out of retries.
	Final bool
}

// ReporterStats are the counters of a [Reporter]. Each only grows.
type ReporterStats struct {
	Recorder Stats
	// ReportSessions are results of sessions that carried the Reporter's
	// own report mail, left out (RFC 8460 section 3).
	ReportSessions uint64
	// Delivered reports were accepted by a destination; GaveUp reports
	// failed permanently or ran out of retries; NoRecord reports were not
	// sent, their domain publishing no usable TLS-RPT record.
	Delivered, GaveUp, NoRecord uint64
	// JournalErrors are writes to the journal that failed: those results
	// count now but would be lost by a crash.
	JournalErrors uint64
}

// Reporter is the TLS reporting service of an MTA (RFC 8460): it counts
// session results, and once a day, after 00:00 UTC and a random delay,
// builds each policy domain's report, looks up where it goes and
// delivers it by HTTPS POST or by DKIM-signed mail, retrying with backoff
// for up to 24 hours (permanent failures stop at once). With Dir set, it
// journals every result as it is counted, so that a crash neither loses
// nor doubles one. Create it with [NewReporter], feed it with
// [Reporter.Record], stop it with [Reporter.Close]; every goroutine it
// starts ends in Close.
type Reporter struct {
	opts   ReporterOptions
	clock  Clock
	rec    *Recorder
	j      *journal
	sender *Sender
	ropts  ReportOptions
	from   string
	status *statusCache
	gz     gzipper

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu      sync.Mutex
	closed  bool
	stats   ReporterStats
	planned map[int64]bool // days whose jobs exist
	delay   map[int64]time.Duration
	jobs    map[jobKey]*job
	pending map[string][]Count // fleet batches not yet pushed, by id

	compactedDay int64 // of the last compaction; the loop's alone
}

// NewReporter checks opts, restores the state in opts.Dir and starts the
// Reporter's goroutines.
func NewReporter(opts ReporterOptions) (*Reporter, error) {
	ro := ReportOptions{OrganizationName: opts.OrganizationName, ContactInfo: opts.ContactInfo, UniqueID: opts.NodeID}
	if ro.UniqueID == "" {
		ro.UniqueID = DefaultNodeID(opts.ContactInfo + "\x00" + opts.Dir)
	}
	if err := ro.check(); err != nil {
		return nil, err
	}
	switch {
	case opts.DNS == nil:
		return nil, errors.New("tlsrpt: ReporterOptions.DNS is required")
	case opts.Submit != nil && opts.DKIM == nil && !opts.SendUnsignedMail:
		return nil, fmt.Errorf("tlsrpt: %w", ErrUnsigned)
	}
	if opts.DKIM != nil {
		if err := opts.DKIM.check(); err != nil {
			return nil, err
		}
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Random == nil {
		opts.Random = randomDuration
	}
	if opts.From == "" {
		opts.From = opts.ContactInfo
	}
	r := &Reporter{
		opts:    opts,
		clock:   opts.Clock,
		ropts:   ro,
		from:    strings.ToLower(opts.From),
		wake:    make(chan struct{}, 1),
		planned: make(map[int64]bool),
		delay:   make(map[int64]time.Duration),
		jobs:    make(map[jobKey]*job),
		pending: make(map[string][]Count),
	}
	if opts.FlushInterval <= 0 {
		r.opts.FlushInterval = DefaultFlushInterval
	}
	r.status = newStatusCache(r)
	ropts := opts.Recorder
	ropts.Clock = opts.Clock.Now
	ropts.RecordStatus = r.status.get
	r.rec = NewRecorder(ropts)

	so := opts.Delivery
	so.Clock, so.UniqueID, so.From = opts.Clock.Now, ro.UniqueID, opts.From
	so.Mail = opts.Submit
	so.Sign = nil
	if opts.DKIM != nil {
		so.Sign = opts.DKIM.Sign
	}
	r.sender = NewSender(so)

	if opts.Dir != "" {
		j, err := openJournal(opts.Dir, r.rec, func(e *journalEntry) {
			switch e.Op {
			case "b":
				r.pending[e.Domain] = e.Batch
			case "x":
				delete(r.pending, e.Domain)
			}
		}, func() map[string][]Count {
			r.mu.Lock()
			defer r.mu.Unlock()
			return maps.Clone(r.pending)
		})
		if err != nil {
			return nil, err
		}
		r.j = j
		r.compactedDay = dayOf(r.clock.Now())
	}
	// Ask about the domains restored, so that those that stopped
	// publishing a record give their room back now, not at report time.
	for _, d := range r.rec.allDomains() {
		r.status.get(d)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(2)
	go r.run()
	go r.status.run(r.ctx, &r.wg)
	return r, nil
}

// Record counts one session result (see [Recorder.Record] for what is
// refused), and with a state directory journals it before returning. A
// result whose MailFrom is the Reporter's own address is the delivery of
// a report and is left out. The error is a [*ResultError] for a refused
// result, or the journal's write error (the result then counts, but a
// crash would lose it).
func (r *Reporter) Record(res Result) error {
	if res.MailFrom != "" && strings.EqualFold(res.MailFrom, r.from) {
		r.mu.Lock()
		r.stats.ReportSessions++
		r.mu.Unlock()
		return nil
	}
	if r.j == nil {
		return r.rec.Record(res)
	}
	var e journalEntry
	r.j.mu.Lock()
	defer r.j.mu.Unlock()
	if r.j.f == nil {
		return ErrClosed
	}
	kept, err := r.rec.record(&res, &e)
	if !kept || err != nil {
		return err
	}
	if r.j.full() {
		r.poke() // the loop compacts
	}
	if err := r.j.append(&e); err != nil {
		r.mu.Lock()
		r.stats.JournalErrors++
		r.mu.Unlock()
		return fmt.Errorf("tlsrpt: journal: %w", err)
	}
	return nil
}

// forget drops the counts of a day's report for domain, durably.
func (r *Reporter) forget(day int64, domain string) {
	if r.j == nil {
		r.rec.forget(day, domain)
		return
	}
	r.j.mu.Lock()
	defer r.j.mu.Unlock()
	r.rec.forget(day, domain)
	if r.j.f != nil {
		if r.j.append(&journalEntry{Op: "f", Day: day, Domain: domain}) != nil {
			r.mu.Lock()
			r.stats.JournalErrors++
			r.mu.Unlock()
		}
	}
}

// resolved passes a record lookup's answer to the recorder; the counts
// of a domain that publishes no record are dropped, durably.
func (r *Reporter) resolved(domain string, publishes bool) {
	if r.j == nil || publishes {
		r.rec.Resolved(domain, publishes)
		return
	}
	r.j.mu.Lock()
	defer r.j.mu.Unlock()
	r.rec.Resolved(domain, false)
	if r.j.f != nil && r.j.append(&journalEntry{Op: "n", Domain: domain}) != nil {
		r.count(&r.stats.JournalErrors)
	}
}

// Recorder returns the recorder that holds the counts, to read: its
// Reports, Days and Stats. Record through the Reporter, not through it,
// or the journal misses the result.
func (r *Reporter) Recorder() *Recorder { return r.rec }

// Stats returns the Reporter's counters.
func (r *Reporter) Stats() ReporterStats {
	r.mu.Lock()
	s := r.stats
	r.mu.Unlock()
	s.Recorder = r.rec.Stats()
	return s
}

// Close stops the daily cycle, waits for the deliveries in flight to
// stop, writes a last snapshot and closes the journal. The counts of
// reports not yet delivered stay in the state directory for the next
// start.
func (r *Reporter) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	if r.opts.Fleet != nil {
		// Push what this node counted; what cannot be pushed stays in the
		// journal for the next start.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r.flush(ctx)
		cancel()
	}
	if r.j == nil {
		return nil
	}
	err := r.j.compact(r.rec)
	if cerr := r.j.close(); err == nil {
		err = cerr
	}
	return err
}

package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mtasts-go/mtasts/resolver"
)

// Defaults of Server.
const (
	DefaultMap          = "postfix"
	DefaultIdleTimeout  = 2 * time.Minute // Postfix closes its own idle sockets after 10 s
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxConns     = 1024
)

// A Lookuper returns the MTA-STS policy in effect for a domain, as
// resolver.Resolver.Lookup does. It must bound the time a lookup takes
// (resolver.Options.FetchTimeout does).
type Lookuper interface {
	Lookup(ctx context.Context, domain string) (*resolver.Entry, error)
}

// Server answers Postfix socketmap lookups for smtp_tls_policy_maps with
// the MTA-STS policy of the key's domain. Every field but Lookuper is
// optional.
type Server struct {
	// Lookuper finds the policies, normally a *resolver.Resolver.
	Lookuper Lookuper

	// Map is the map name that requests are expected to carry (the last
	// field of socketmap:inet:host:port:name). Default DefaultMap. A request
	// for another name is answered all the same, with a warning in the log
	// (once), as postfix-mta-sts-resolver does.
	Map string

	// StrictTesting answers testing policies like enforce ones.
	StrictTesting bool

	// IdleTimeout is how long a connection may wait between requests
	// (default DefaultIdleTimeout); ReadTimeout bounds the reading of one
	// request once it has begun (DefaultReadTimeout), and WriteTimeout the
	// writing of a reply (DefaultWriteTimeout). Each holds to within a
	// tenth of itself (at most a second) less: deadlines are not moved on
	// every request.
	IdleTimeout, ReadTimeout, WriteTimeout time.Duration

	// MaxConns bounds the connections served at once; a connection beyond
	// it is closed at once (Postfix then retries, and defers the mail if
	// that fails too). Default DefaultMaxConns.
	MaxConns int

	// Log receives what happens. Default: slog.Default(). Every request
	// is logged at debug level; failures and policy changes at info or
	// above, once each.
	Log *slog.Logger

	// TLSRPT appends to OK replies the attributes Postfix 3.10 and later
	// read for TLSRPT (see appendTLSRPT).
	TLSRPT bool

	// DNSErrorGrace is how long a domain whose _mta-sts lookups fail
	// temporarily is answered TEMP (Postfix defers the mail) before it is
	// answered NOTFOUND (delivered without MTA-STS): 0 gives
	// DefaultDNSErrorGrace, GraceForever answers TEMP for ever, a negative
	// value NOTFOUND at once.
	DNSErrorGrace time.Duration

	// Overrides, if set, returns the operator's exception for a domain:
	// resolver.Skip answers NOTFOUND without a lookup, resolver.ForceEnforce
	// answers a testing policy as enforce. It is called on every request.
	Overrides func(domain string) resolver.Override

	// Metrics, if set, counts what the server does.
	Metrics *Metrics

	// DANE, if set, is asked first about every domain not skipped by
	// Overrides: a domain whose MX hosts all have usable DNSSEC-validated
	// TLSA records is answered "OK dane-only", one with a secure MX RRset
	// and TLSA records for some hosts "OK dane" (Postfix then applies DANE
	// (RFC 7672) host by host), and the others as without DANE, by their
	// MTA-STS policy. MTA-STS never overrides DANE (RFC 8461 section 2).
	DANE DANEChecker

	warnedMap atomic.Bool // a request for another map name was logged
	initOnce  sync.Once
	graceT    *graceTracker
	debugOn   bool
}

// init sets what the server derives from its fields once.
func (s *Server) init() {
	s.initOnce.Do(func() {
		g := s.DNSErrorGrace
		if g == 0 {
			g = DefaultDNSErrorGrace
		}
		s.graceT = newGraceTracker(g, nil)
		s.debugOn = s.log().Enabled(context.Background(), slog.LevelDebug)
	})
}

func (s *Server) grace() *graceTracker { s.init(); return s.graceT }

// debug reports whether debug lines are logged, so that the hot path
// builds none when they are not.
func (s *Server) debug() bool { s.init(); return s.debugOn }

func (s *Server) override(domain string) resolver.Override {
	if s.Overrides == nil {
		return 0
	}
	return s.Overrides(domain)
}

func (s *Server) mapName() string {
	if s.Map == "" {
		return DefaultMap
	}
	return s.Map
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Serve accepts connections on ln and answers their requests until ctx is
// done or ln fails. It closes ln. When ctx is done it stops accepting,
// lets each connection finish the request it is answering (the Lookuper
// bounds that), closes them all and returns nil once they are all closed.
// Otherwise it returns the error of Accept.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Lookuper == nil {
		ln.Close()
		return errors.New("mtasts-postfix: Server.Lookuper is nil")
	}
	s.init()
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	var (
		mu       sync.Mutex
		conns    = make(map[*conn]struct{})
		wg       sync.WaitGroup
		stopping = make(chan struct{})
	)
	// Lookups in flight go on when ctx is done, so that their answers
	// reach Postfix; the Lookuper's own deadline bounds them.
	lookupCtx := context.WithoutCancel(ctx)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopping:
		}
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.stop()
		}
		mu.Unlock()
	}()
	defer func() {
		close(stopping)
		wg.Wait()
	}()

	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				// Out of file descriptors, or a client gone before
				// Accept: serve the others and try again shortly.
				s.log().Warn("accept", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			return err
		}
		c := &conn{s: s, nc: nc}
		mu.Lock()
		if ctx.Err() != nil || len(conns) >= maxConns {
			mu.Unlock()
			if ctx.Err() == nil {
				s.log().Warn("too many connections, closing", "remote", nc.RemoteAddr().String(), "max", maxConns)
			}
			nc.Close()
			continue
		}
		conns[c] = struct{}{}
		wg.Add(1)
		mu.Unlock()
		s.Metrics.connOpened()
		go func() {
			defer wg.Done()
			c.serve(lookupCtx)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			s.Metrics.connClosed()
		}()
	}
}

// conn is one client connection. Requests are answered in order, one at a
// time, as Postfix sends them; replies to requests that arrived together
// (pipelined) are flushed together.
type conn struct {
	s  *Server
	nc net.Conn

	// The deadlines set last. They are moved only when they come within
	// a slack of what they should be, not on every request: setting one
	// costs more than answering from the cache.
	rdl, wdl time.Time

	mu      sync.Mutex // guards stopped against the read deadline
	stopped bool
}

// stop makes the connection end once the request it is answering, if
// any, has been answered.
func (c *conn) stop() {
	c.mu.Lock()
	c.stopped = true
	c.nc.SetReadDeadline(time.Now())
	c.mu.Unlock()
}

// setReadDeadline moves the read deadline to now+d unless it is within slack
// of that already, and reports whether the connection should go on.
func (c *conn) setReadDeadline(now time.Time, d, slack time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return false
	}
	if want := now.Add(d); c.rdl.Before(want.Add(-slack)) || c.rdl.After(want) {
		c.rdl = want
		c.nc.SetReadDeadline(want)
	}
	return true
}

// slack is how far a deadline may be from its ideal: a tenth of the
// timeout, at most a second.
func slack(d time.Duration) time.Duration { return min(d/10, time.Second) }

func (c *conn) serve(ctx context.Context) {
	defer c.nc.Close()
	s := c.s
	idle := orDefault(s.IdleTimeout, DefaultIdleTimeout)
	readTimeout := orDefault(s.ReadTimeout, DefaultReadTimeout)
	writeTimeout := orDefault(s.WriteTimeout, DefaultWriteTimeout)
	idleSlack, readSlack, writeSlack := slack(idle), slack(readTimeout), slack(writeTimeout)
	br := bufio.NewReaderSize(c.nc, 4096)
	bw := bufio.NewWriterSize(c.nc, 4096)
	req := make([]byte, MaxRequest)
	var scratch answerBuf
	now := time.Now()
	for {
		if !complete(br) {
			if br.Buffered() == 0 {
				// Wait for the next request under the idle deadline.
				if !c.setReadDeadline(now, idle, idleSlack) {
					return
				}
				if _, err := br.Peek(1); err != nil {
					c.readFailed(err)
					return
				}
			}
			// It has begun: the rest gets ReadTimeout. The common request,
			// sent in one write, is whole already and sets no deadline.
			if !complete(br) && !c.setReadDeadline(time.Now(), readTimeout, readSlack) {
				return
			}
		}
		p, err := readNetstring(br, req, MaxRequest)
		if err != nil {
			c.readFailed(err)
			if errors.Is(err, errMalformed) || errors.Is(err, errTooLong) {
				c.lingeringClose(bw)
			}
			return
		}
		reply := s.answer(ctx, p, &scratch)
		now = time.Now()
		if want := now.Add(writeTimeout); c.wdl.Before(want.Add(-writeSlack)) {
			c.wdl = want
			c.nc.SetWriteDeadline(want)
		}
		if err := writeNetstring(bw, reply); err != nil {
			s.log().Debug("write failed", "remote", c.nc.RemoteAddr().String(), "err", err)
			return
		}
		// Flush unless another whole request is already here: pipelined
		// requests get their replies in one write.
		if !complete(br) {
			if err := bw.Flush(); err != nil {
				s.log().Debug("write failed", "remote", c.nc.RemoteAddr().String(), "err", err)
				return
			}
		}
	}
}

// complete reports whether br holds a whole netstring already, or enough
// bytes to know that it is malformed: whether the next request can be read
// without waiting for the network.
func complete(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	n := 0
	for i, c := range b {
		if c == ':' {
			return len(b) > i+n+1
		}
		if c < '0' || c > '9' || n > MaxRequest {
			return true // malformed: settled already
		}
		n = n*10 + int(c-'0')
	}
	return false
}

func (c *conn) readFailed(err error) {
	log := c.s.log()
	remote := c.nc.RemoteAddr().String()
	var ne net.Error
	switch {
	case err == io.EOF:
	case errors.Is(err, errMalformed), errors.Is(err, errTooLong):
		log.Warn("bad request, closing", "remote", remote, "err", err)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		if !stopped {
			log.Debug("idle or slow client, closing", "remote", remote)
		}
	default:
		log.Debug("read failed", "remote", remote, "err", err)
	}
}

// lingeringClose ends a connection whose client sent a bad request, after
// the replies to the requests before it: it sends them, half-closes, and
// reads what the client still sends for a moment, so that closing with
// unread data does not reset the connection (a reset can make the client
// lose replies it has not read yet).
func (c *conn) lingeringClose(bw *bufio.Writer) {
	c.nc.SetWriteDeadline(time.Now().Add(orDefault(c.s.WriteTimeout, DefaultWriteTimeout)))
	if bw.Flush() != nil {
		return
	}
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	c.mu.Lock()
	if !c.stopped {
		c.nc.SetReadDeadline(time.Now().Add(time.Second))
	}
	c.mu.Unlock()
	io.CopyN(io.Discard, c.nc, 64<<10)
}

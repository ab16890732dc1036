// Package redisstore is a [cache.Store] in Redis, through which a fleet of
// MTAs shares MTA-STS policies: what one of them fetched, the others read
// instead of fetching it again.
//
// Each entry is one string key, the store's Prefix and the domain, holding
// the encoding of [cache.Entry.MarshalBinary] (checksummed JSON) and
// expiring in Redis when the entry does (SET ... EXAT), so that Redis never
// holds an expired policy for long and needs no cleaning. A value that does
// not decode is skipped, reported to OnError, and read as a miss.
//
// Every call is bounded by its context and by Timeout (default one second):
// when Redis is down or slow, the store fails fast and a [cache.Cache] in
// front of it keeps serving from memory, returning a [*cache.StoreError] that
// the resolver reports. For the timeout to bound network reads and writes,
// and not only waiting for a connection, create the client with
// ContextTimeoutEnabled set (redis.Options, redis.ClusterOptions,
// redis.RingOptions); go-redis otherwise applies its own ReadTimeout and
// WriteTimeout (3 s by default). A dead Redis costs each call up to Timeout,
// while go-redis retries (MaxRetries, DialerRetries): a resolver that gets a
// StoreError may well leave the store alone for a while.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/redis/go-redis/v9"
)

// Defaults of the Store's fields.
const (
	DefaultPrefix  = "mtasts:"
	DefaultTimeout = time.Second
)

// scanCount is the COUNT hint of each SCAN, and about the most values
// fetched in one round trip by Range.
const scanCount = 1000

// Store is a [cache.Store] in Redis. Client must be set; the other fields
// are optional. A Store is safe for concurrent use; its fields must not be
// changed once it is in use.
type Store struct {
	// Client is the Redis connection: a *redis.Client, *redis.ClusterClient
	// or *redis.Ring (Range visits every master or shard). The Store does
	// not close it.
	Client redis.UniversalClient

	// Prefix begins every key, so that one Redis can serve other purposes
	// or several independent fleets. Default: DefaultPrefix.
	Prefix string

	// Timeout bounds each call (each batch, for Range), within the
	// caller's context. Default: DefaultTimeout.
	Timeout time.Duration

	// OnError, if not nil, is called with each value that Get or Range
	// skipped because it does not decode; the error wraps
	// cache.ErrCorrupt. It may be called from several goroutines at once.
	OnError func(error)
}

func (s *Store) key(domain string) string {
	if s.Prefix == "" {
		return DefaultPrefix + domain
	}
	return s.Prefix + domain
}

func (s *Store) context(ctx context.Context) (context.Context, context.CancelFunc) {
	t := s.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}

// Get implements [cache.Store].
func (s *Store) Get(ctx context.Context, domain string) (*cache.Entry, error) {
	ctx, cancel := s.context(ctx)
	defer cancel()
	key := s.key(domain)
	b, err := s.Client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, cache.ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get %s: %w", key, err)
	}
	e, ok := s.decode(key, b)
	if !ok || e.Domain() != domain {
		if ok {
			s.report(fmt.Errorf("redisstore: %s: %w: entry of %q", key, cache.ErrCorrupt, e.Domain()))
		}
		return nil, cache.ErrMiss
	}
	return e, nil
}

func (s *Store) decode(key string, b []byte) (*cache.Entry, bool) {
	e, err := cache.ParseEntry(b)
	if err != nil {
		s.report(fmt.Errorf("redisstore: %s: %w", key, err))
		return nil, false
	}
	return e, true
}

func (s *Store) report(err error) {
	if s.OnError != nil {
		s.OnError(err)
	}
}

// Put implements [cache.Store]: SET with EXAT, so that the key expires with
// the entry. An entry that expired before 1970-01-01T00:00:01Z cannot be
// given to EXAT and is deleted instead.
func (s *Store) Put(ctx context.Context, e *cache.Entry) error {
	b, err := e.MarshalBinary()
	if err != nil {
		return err
	}
	ctx, cancel := s.context(ctx)
	defer cancel()
	key := s.key(e.Domain())
	exp := e.Expires()
	if exp.Unix() <= 0 {
		err = s.Client.Del(ctx, key).Err()
	} else {
		err = s.Client.SetArgs(ctx, key, b, redis.SetArgs{ExpireAt: exp}).Err()
	}
	if err != nil {
		return fmt.Errorf("redisstore: put %s: %w", key, err)
	}
	return nil
}

// PutMany implements [cache.BatchStore]: one pipeline of SET ... EXAT (or
// DEL) for all the entries, in one round trip on a single Redis, within
// one Timeout. It returns a *cache.BatchError naming the entries that
// failed, or the error that made the whole pipeline fail.
func (s *Store) PutMany(ctx context.Context, es []*cache.Entry) error {
	failed := make(map[string]error)
	vals := make([][]byte, len(es))
	for i, e := range es {
		b, err := e.MarshalBinary()
		if err != nil {
			failed[e.Domain()] = err
			continue
		}
		vals[i] = b
	}
	ctx, cancel := s.context(ctx)
	defer cancel()
	cmds := make([]redis.Cmder, len(es))
	_, err := s.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range es {
			if vals[i] == nil {
				continue
			}
			key := s.key(e.Domain())
			if exp := e.Expires(); exp.Unix() <= 0 {
				cmds[i] = p.Del(ctx, key)
			} else {
				cmds[i] = p.SetArgs(ctx, key, vals[i], redis.SetArgs{ExpireAt: exp})
			}
		}
		return nil
	})
	if err != nil && len(failed) == 0 && allFailed(cmds) {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		if err := cmd.Err(); err != nil {
			failed[es[i].Domain()] = fmt.Errorf("redisstore: put %s: %w", s.key(es[i].Domain()), err)
		}
	}
	if len(failed) > 0 {
		return &cache.BatchError{Failed: failed}
	}
	return nil
}

// allFailed reports whether every command of a pipeline failed.
func allFailed(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if c != nil && c.Err() == nil {
			return false
		}
	}
	return true
}

// Delete implements [cache.Store].
func (s *Store) Delete(ctx context.Context, domain string) error {
	ctx, cancel := s.context(ctx)
	defer cancel()
	key := s.key(domain)
	if err := s.Client.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("redisstore: delete %s: %w", key, err)
	}
	return nil
}

// Range implements [cache.Store] with SCAN over the prefix, fetching the
// values of each page of keys in the round trip that asks for the next
// page. Keys of other programs that happen to share the prefix are
// skipped, and reported to OnError when they hold a string that does not
// decode as an entry. f is never called concurrently, even on a cluster.
func (s *Store) Range(ctx context.Context, f func(*cache.Entry) bool) error {
	var mu sync.Mutex // serialises f when shards are scanned concurrently
	stopped := false
	visit := func(ctx context.Context, c redis.Cmdable, mget bool) error {
		return s.scan(ctx, c, mget, func(e *cache.Entry) bool {
			mu.Lock()
			defer mu.Unlock()
			if stopped {
				return false
			}
			stopped = !f(e)
			return !stopped
		})
	}
	var err error
	switch c := s.Client.(type) {
	case *redis.ClusterClient:
		// The keys of one node lie in many slots, which MGET refuses.
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return visit(ctx, n, false) })
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return visit(ctx, n, true) })
	default:
		err = visit(ctx, c, true)
	}
	if err != nil {
		return fmt.Errorf("redisstore: range: %w", err)
	}
	return nil
}

// Range's pipeline: one goroutine pages through SCAN, each round trip
// fetching the values of the keys of the page before (MGET, or GETs on a
// cluster node) along with the next page of keys; the decoders (goroutines)
// decode the pages fetched; f is called from the caller's goroutine. At
// most pageBuffer pages wait between two stages, so that memory stays
// bounded whatever the store's size.
const (
	decoders   = 2
	pageBuffer = 4
)

// scan visits the entries of one node until f returns false; mget says
// whether one MGET may fetch the values of a page.
func (s *Store) scan(ctx context.Context, c redis.Cmdable, mget bool, f func(*cache.Entry) bool) error {
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	match := globEscape(s.key("")) + "*"
	pages := make(chan []keyValue, pageBuffer)
	var fetchErr error // written before pages is closed
	go func() {
		defer close(pages)
		var keys []string // of the page before, values not yet fetched
		var cursor uint64
		more := true // SCAN has more pages
		for more || len(keys) > 0 {
			kvs, next, nextKeys, err := s.step(sctx, c, mget, match, keys, cursor, more)
			if err != nil {
				fetchErr = err
				return
			}
			if more {
				keys, cursor, more = nextKeys, next, next != 0
			} else {
				keys = nil
			}
			if len(kvs) == 0 {
				continue
			}
			select {
			case pages <- kvs:
			case <-sctx.Done():
				return
			}
		}
	}()
	decoded := make(chan []*cache.Entry, pageBuffer)
	var wg sync.WaitGroup
	for range decoders {
		wg.Go(func() {
			for kvs := range pages {
				es := s.decodePage(kvs)
				select {
				case decoded <- es:
				case <-sctx.Done():
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(decoded)
	}()
	stopped := false
	for es := range decoded { // drained to the end: no goroutine outlives scan
		for _, e := range es {
			if stopped {
				break
			}
			if !f(e) {
				stopped = true
				stop()
			}
		}
	}
	if stopped {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fetchErr
}

// decodePage decodes a page of values, leaving out (and reporting) those
// that do not decode or hold another key's entry.
func (s *Store) decodePage(kvs []keyValue) []*cache.Entry {
	es := make([]*cache.Entry, 0, len(kvs))
	for _, kv := range kvs {
		e, ok := s.decode(kv.key, kv.val)
		if !ok {
			continue
		}
		if s.key(e.Domain()) != kv.key {
			s.report(fmt.Errorf("redisstore: %s: %w: entry of %q", kv.key, cache.ErrCorrupt, e.Domain()))
			continue
		}
		es = append(es, e)
	}
	return es
}

type keyValue struct {
	key string
	val []byte
}

// step makes one round trip, within one timeout: it fetches the values of
// keys (those that vanished meanwhile, or hold no string, are left out)
// and, if more, runs the SCAN step at cursor with match, returning the
// next cursor and the keys it found.
func (s *Store) step(ctx context.Context, c redis.Cmdable, mget bool, match string, keys []string, cursor uint64, more bool) (kvs []keyValue, next uint64, nextKeys []string, err error) {
	ctx, cancel := s.context(ctx)
	defer cancel()
	var scan *redis.ScanCmd
	var values *redis.SliceCmd
	var gets []*redis.StringCmd
	// Each command's own error is looked at below: a GET refused for a
	// key holding no string must not fail the rest.
	_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		switch {
		case len(keys) == 0:
		case mget:
			values = p.MGet(ctx, keys...)
		default:
			gets = make([]*redis.StringCmd, len(keys))
			for i, k := range keys {
				gets[i] = p.Get(ctx, k)
			}
		}
		if more {
			scan = p.Scan(ctx, cursor, match, scanCount)
		}
		return nil
	})
	if scan != nil {
		if nextKeys, next, err = scan.Result(); err != nil {
			return nil, 0, nil, err
		}
	}
	kvs = make([]keyValue, 0, len(keys))
	if values != nil {
		vals, err := values.Result()
		if err != nil {
			return nil, 0, nil, err
		}
		for i, v := range vals {
			if v, ok := v.(string); ok && i < len(keys) {
				kvs = append(kvs, keyValue{keys[i], []byte(v)})
			}
		}
	}
	for i, cmd := range gets {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) || redis.HasErrorPrefix(err, "WRONGTYPE") {
			continue
		}
		if err != nil {
			return nil, 0, nil, err
		}
		kvs = append(kvs, keyValue{keys[i], b})
	}
	return kvs, next, nextKeys, nil
}

// globEscape escapes the characters that are special in a Redis glob
// pattern.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

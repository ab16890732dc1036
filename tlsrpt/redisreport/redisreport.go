// Package redisreport shares the TLS-RPT counts of several MTA nodes in
// Redis, and lets one node send each report: a [tlsrpt.Fleet] for
// tlsrpt.ReporterOptions.Fleet.
//
// Keys, all under one hash tag so that they live in one slot of a Redis
// Cluster ("{tlsrpt}" unless Prefix says otherwise):
//
//	<prefix>:c:<day>:<domain>   hash: counter key → count (HINCRBY)
//	<prefix>:d:<day>            set of the domains with counts that day
//	<prefix>:b:<batch id>       a batch pushed (SET NX): a second push adds nothing
//	<prefix>:l:<day>:<domain>   the node that sends the report (SET NX PX)
//	<prefix>:x:<day>:<domain>   the report is done
//
// Every key expires after 72 hours, by which time the RFC 8460 day and its
// 24 hours of retries are over.
package redisreport

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtasts-go/mtasts/tlsrpt"
)

// keyTTL is how long every key lives.
const keyTTL = 72 * time.Hour

// Fleet is a tlsrpt.Fleet on Redis. Client is required.
type Fleet struct {
	Client redis.UniversalClient
	// Prefix of every key. Default "{tlsrpt}".
	Prefix string
}

var _ tlsrpt.Fleet = (*Fleet)(nil)

func (f *Fleet) prefix() string {
	if f.Prefix == "" {
		return "{tlsrpt}"
	}
	return f.Prefix
}

func dayKey(day time.Time) string { return day.UTC().Format(time.DateOnly) }

// push applies a batch once: KEYS[1] is the batch marker, ARGV[1] the TTL
// in seconds, then triples of (counts key, domains key, domain), field,
// count... as ARGV[2..].
var push = redis.NewScript(`
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
	return 0
end
local i = 2
while i <= #ARGV do
	local ckey, dkey, domain, field, n = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
	redis.call('HINCRBY', ckey, field, n)
	redis.call('EXPIRE', ckey, ARGV[1])
	redis.call('SADD', dkey, domain)
	redis.call('EXPIRE', dkey, ARGV[1])
	i = i + 5
end
return 1
`)

// Push adds batch to the shared counts, atomically and once per id.
func (f *Fleet) Push(ctx context.Context, id string, batch []tlsrpt.Count) error {
	p := f.prefix()
	args := make([]any, 0, 1+5*len(batch))
	args = append(args, int64(keyTTL/time.Second))
	for _, c := range batch {
		d := dayKey(c.Day)
		args = append(args, p+":c:"+d+":"+c.Domain, p+":d:"+d, c.Domain, c.Key, strconv.FormatUint(c.N, 10))
	}
	return push.Run(ctx, f.Client, []string{p + ":b:" + id}, args...).Err()
}

// Domains returns the domains with shared counts on day.
func (f *Fleet) Domains(ctx context.Context, day time.Time) ([]string, error) {
	return f.Client.SMembers(ctx, f.prefix()+":d:"+dayKey(day)).Result()
}

// Counts returns the shared counts of domain on day.
func (f *Fleet) Counts(ctx context.Context, day time.Time, domain string) ([]tlsrpt.Count, error) {
	m, err := f.Client.HGetAll(ctx, f.prefix()+":c:"+dayKey(day)+":"+domain).Result()
	if err != nil {
		return nil, err
	}
	start := day.UTC().Truncate(24 * time.Hour)
	out := make([]tlsrpt.Count, 0, len(m))
	for k, v := range m {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, errors.New("redisreport: a count is not a number: " + strconv.Quote(v))
		}
		out = append(out, tlsrpt.Count{Day: start, Domain: domain, Key: k, N: n})
	}
	return out, nil
}

// lease takes or confirms a lease: KEYS[1] the lease, KEYS[2] the done
// marker; ARGV[1] the node, ARGV[2] the TTL in milliseconds.
var lease = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
	return 0
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return 1
end
return 0
`)

// Lease makes node the sender of the report of (day, domain) for ttl.
func (f *Fleet) Lease(ctx context.Context, day time.Time, domain, node string, ttl time.Duration) (bool, error) {
	p, d := f.prefix(), dayKey(day)
	n, err := lease.Run(ctx, f.Client, []string{p + ":l:" + d + ":" + domain, p + ":x:" + d + ":" + domain},
		node, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Done marks the report of (day, domain) done and drops its counts.
func (f *Fleet) Done(ctx context.Context, day time.Time, domain string) error {
	p, d := f.prefix(), dayKey(day)
	_, err := f.Client.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Set(ctx, p+":x:"+d+":"+domain, "1", keyTTL)
		tx.Del(ctx, p+":c:"+d+":"+domain, p+":l:"+d+":"+domain)
		tx.SRem(ctx, p+":d:"+d, domain)
		return nil
	})
	return err
}

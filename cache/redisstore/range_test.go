package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
	"github.com/mtasts-go/mtasts/cache/redisstore"
	"github.com/mtasts-go/mtasts/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// fill puts n entries, d0000.example and on, in s, in pipelines.
func fill(t *testing.T, s *redisstore.Store, n int) {
	t.Helper()
	p := storetest.Policy(t, "enforce", 86400, "mx.example.net")
	for lo := 0; lo < n; lo += 500 {
		var es []*cache.Entry
		for i := lo; i < min(lo+500, n); i++ {
			es = append(es, cache.NewEntry(fmt.Sprintf("d%04d.example", i), "1", p, storetest.Now()))
		}
		if err := s.PutMany(context.Background(), es); err != nil {
			t.Fatal(err)
		}
	}
}

// rangeAll checks that Range yields each of the n entries of fill once.
func rangeAll(t *testing.T, s *redisstore.Store, n int) {
	t.Helper()
	seen := make(map[string]int, n)
	if err := s.Range(context.Background(), func(e *cache.Entry) bool { seen[e.Domain()]++; return true }); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if d := fmt.Sprintf("d%04d.example", i); seen[d] != 1 {
			t.Errorf("Range yielded %s %d times, want 1", d, seen[d])
		}
	}
	if len(seen) != n {
		t.Errorf("Range yielded %d domains, want %d", len(seen), n)
	}
}

// TestRangeSkipsOtherTypes: keys under the prefix that hold no string (a
// hash, a list) are left out, among several pages of entries, without
// failing the Range.
func TestRangeSkipsOtherTypes(t *testing.T) {
	srv := startRedis(t)
	s := srv.store(t)
	const n = 2500 // several SCAN pages
	fill(t, s, n)
	ctx := context.Background()
	if err := s.Client.HSet(ctx, s.Prefix+"hash.example", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.RPush(ctx, s.Prefix+"list.example", "v").Err(); err != nil {
		t.Fatal(err)
	}
	rangeAll(t, s, n)
}

// TestRangeStops: Range ends when f returns false, or with the context's
// error when it is cancelled, while pages are still being fetched and
// decoded (goleak, in TestMain, checks that no goroutine outlives it).
func TestRangeStops(t *testing.T) {
	srv := startRedis(t)
	s := srv.store(t)
	fill(t, s, 5000)
	calls := 0
	err := s.Range(context.Background(), func(*cache.Entry) bool { calls++; return calls < 100 })
	if err != nil || calls != 100 {
		t.Errorf("Range stopped by f: %d calls, %v; want 100, nil", calls, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls = 0
	err = s.Range(ctx, func(*cache.Entry) bool {
		if calls++; calls == 100 {
			cancel()
		}
		return true
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Range cancelled after %d calls: %v, want context.Canceled", calls, err)
	}
}

// TestRangeRing: on a Ring, Range visits every shard (with MGET, each shard
// being a plain Redis) and yields each entry once.
func TestRangeRing(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	ring := redis.NewRing(&redis.RingOptions{
		Addrs:                 map[string]string{"a": a.Addr, "b": b.Addr},
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { ring.Close() })
	s := &redisstore.Store{Client: ring, Prefix: "ring:", OnError: func(err error) { t.Errorf("OnError(%v)", err) }}
	const n = 2500
	fill(t, s, n)
	for _, srv := range []*redistest.Server{a, b} {
		c := srv.Client(t)
		if k, err := c.DBSize(context.Background()).Result(); err != nil || k == 0 || k == n {
			t.Fatalf("shard %s holds %d keys (%v): the ring does not spread them", srv.Addr, k, err)
		}
	}
	rangeAll(t, s, n)
}

// TestRangeCluster: on a cluster (one real redis-server in cluster mode,
// holding every slot), Range fetches each page's values with GETs, since
// the keys of one node lie in many slots, and yields each entry once.
func TestRangeCluster(t *testing.T) {
	addr := startClusterNode(t)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { cc.Close() })
	s := &redisstore.Store{Client: cc, Prefix: "cluster:", OnError: func(err error) { t.Errorf("OnError(%v)", err) }}
	const n = 2500
	// PutMany sends one pipeline, which a ClusterClient splits by slot.
	fill(t, s, n)
	if err := cc.HSet(context.Background(), s.Prefix+"hash.example", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	rangeAll(t, s, n)
}

// startClusterNode starts redis-server in cluster mode on a loopback port,
// assigns it every slot and waits (bounded) until the cluster is up. It
// skips the test without redis-server, as redistest does.
func startClusterNode(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		redistest.Start(t) // skips, or fails in CI, with redistest's message
		return ""
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	ready := func(probe func() bool) {
		for !probe() {
			select {
			case <-exited:
				t.Fatalf("redis-server exited: %s", out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node not ready after 10 s: %s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ready(func() bool { return c.Ping(ctx).Err() == nil })
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	ready(func() bool {
		info, err := c.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	return addr
}

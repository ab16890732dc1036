package cache_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
	"github.com/mtasts-go/mtasts/internal/crashtest"
	"github.com/mtasts-go/mtasts/policy"
)

const (
	crashDirEnv   = "MTASTS_CACHE_CRASH_DIR"
	crashStartEnv = "MTASTS_CACHE_CRASH_START"
	crashDomains  = 6
)

// crashEntry is entry number i of domain d as the writer writes it: its id
// is i, and its policy has i%7+1 mx patterns, so that consecutive versions
// differ in length and a torn file cannot pass for a complete one.
func crashEntry(d string, i int) (*cache.Entry, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: enforce\r\nmax_age: %d\r\n", 86400+i)
	for k := range i%7 + 1 {
		fmt.Fprintf(&b, "mx: mx%d-%d.%s\r\n", k, i, d)
	}
	p, _, err := policy.Parse([]byte(b.String()))
	if err != nil {
		return nil, err
	}
	return cache.NewEntry(d, strconv.Itoa(i), p, storetest.Now()), nil
}

func crashDomain(k int) string { return fmt.Sprintf("crash%d.example", k) }

// crashWriter runs in the child process: it writes entries numbered from
// start up, round-robin over the domains, until it is killed.
func crashWriter(dir, start string) {
	i, err := strconv.Atoi(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s := &cache.DirStore{Dir: dir}
	fmt.Println("ready")
	for ; ; i++ {
		e, err := crashEntry(crashDomain(i%crashDomains), i)
		if err == nil {
			err = s.Put(context.Background(), e)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

// TestDirStoreCrash kills a writing process with SIGKILL at random points
// and checks that every file left is a complete entry, never older than the
// one seen after the previous kill, and that no temporary file is taken for
// an entry.
func TestDirStoreCrash(t *testing.T) {
	rng := crashtest.Begin(t, 20)
	dir := t.TempDir()
	var reports []error
	s := &cache.DirStore{Dir: dir, OnError: func(err error) { reports = append(reports, err) }}
	ctx := context.Background()

	last := map[string]int{} // id seen after the previous kill
	next, temps := 0, 0
	for kill := range 20 {
		child := crashtest.Start(t, crashDirEnv+"="+dir, crashStartEnv+"="+strconv.Itoa(next))
		line, _ := bufio.NewReader(child.Out).ReadString('\n')
		if line != "ready\n" {
			child.Kill("start")
			t.Fatalf("writer: %q", line)
		}
		time.Sleep(time.Duration(rng.IntN(50_000)) * time.Microsecond)
		child.Kill(fmt.Sprintf("kill %d", kill))

		// Every domain's entry is complete and not older than before.
		for k := range crashDomains {
			d := crashDomain(k)
			got, err := s.Get(ctx, d)
			if errors.Is(err, cache.ErrMiss) && last[d] == 0 {
				continue // never written yet
			}
			if err != nil {
				t.Fatalf("kill %d: %s: %v", kill, d, err)
			}
			i, err := strconv.Atoi(got.ID())
			if err != nil {
				t.Fatalf("kill %d: %s: id %q", kill, d, got.ID())
			}
			want, _ := crashEntry(d, i)
			if diff := storetest.Equal(got, want); diff != "" {
				t.Fatalf("kill %d: %s: entry %d is not what was written: %s", kill, d, i, diff)
			}
			if i < last[d] {
				t.Fatalf("kill %d: %s: entry %d older than %d seen before", kill, d, i, last[d])
			}
			last[d] = i
			next = max(next, i+1)
		}
		// Range sees exactly those entries, whatever temporary files lie
		// around.
		n := 0
		if err := s.Range(ctx, func(*cache.Entry) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		if n != len(last) && !(n == 0 && next == 0) {
			t.Fatalf("kill %d: Range saw %d entries, want %d", kill, n, len(last))
		}
		temps, _ = countTemps(dir)
		if len(reports) > 0 {
			t.Fatalf("kill %d: damaged files reported: %v", kill, reports)
		}
	}
	t.Logf("last entry %d; %d temporary files left by the kills", next-1, temps)
	if next == 0 {
		t.Error("the writer never wrote anything")
	}
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	if n, err := countTemps(dir); err != nil || n != 0 {
		t.Errorf("after Clean: %d temporary files, %v", n, err)
	}
}

func countTemps(dir string) (int, error) {
	m, err := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	return len(m), err
}

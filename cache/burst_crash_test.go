package cache_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
	"github.com/mtasts-go/mtasts/internal/crashtest"
)

const (
	burstDirEnv = "MTASTS_CACHE_BURST_DIR"
	burstSize   = 1000
	burstGroup  = 64
)

func burstDomain(i int) string { return fmt.Sprintf("burst%04d.example", i) }

// burstWriter runs in the child process: it puts burstSize new domains at
// once into a write-behind Cache on a DirStore, and prints how many writes
// the store has committed each time that grows, until it is killed.
func burstWriter(dir string) {
	c := cache.Open(cache.Options{Store: &cache.DirStore{Dir: dir}, GroupSize: burstGroup})
	fmt.Println("ready")
	ctx := context.Background()
	for i := range burstSize {
		e, err := crashEntry(burstDomain(i), i)
		if err == nil {
			err = c.Put(ctx, e)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	var last uint64
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		st := c.WriteStats()
		if st.Committed != last {
			last = st.Committed
			fmt.Printf("committed %d\n", last)
		}
		if st.Failed+st.Dropped > 0 {
			fmt.Fprintf(os.Stderr, "stats %+v\n", st)
			os.Exit(2)
		}
		time.Sleep(100 * time.Microsecond)
	}
	fmt.Fprintln(os.Stderr, "not killed within a minute")
	os.Exit(2)
}

// TestWriteBehindCrash kills, with SIGKILL, a process that has just put
// 1 000 new domains into a write-behind Cache on a DirStore, at a random
// group boundary it announced, and checks that every write committed
// before the group in progress is read back whole, and that no file is
// torn: what a crash loses is at most the writes not yet committed.
func TestWriteBehindCrash(t *testing.T) {
	rng := crashtest.Begin(t, 3)
	ctx := context.Background()
	for round := range 3 {
		dir := t.TempDir()
		target := uint64(rng.IntN(burstSize/burstGroup)+1) * burstGroup
		child := crashtest.Start(t, burstDirEnv+"="+dir)
		lines := bufio.NewScanner(child.Out)
		var committed uint64
		for lines.Scan() {
			n, ok := strings.CutPrefix(lines.Text(), "committed ")
			if !ok {
				continue // ready
			}
			var err error
			if committed, err = strconv.ParseUint(n, 10, 64); err != nil {
				t.Fatal(err)
			}
			if committed >= target {
				break
			}
		}
		child.Kill(fmt.Sprintf("round %d", round)) // at once
		if committed == 0 {
			t.Fatalf("round %d: the writer committed nothing", round)
		}

		var damaged []error
		s := &cache.DirStore{Dir: dir, OnError: func(err error) { damaged = append(damaged, err) }}
		// Every write committed before the kill is read back whole.
		for i := range int(committed) {
			d := burstDomain(i)
			got, err := s.Get(ctx, d)
			if err != nil {
				t.Fatalf("round %d: %s, committed before the kill: %v", round, d, err)
			}
			want, _ := crashEntry(d, i)
			if diff := storetest.Equal(got, want); diff != "" {
				t.Fatalf("round %d: %s: %s", round, d, diff)
			}
		}
		// Whatever else is there (of the group in progress) is whole too.
		n := 0
		if err := s.Range(ctx, func(e *cache.Entry) bool {
			i, _ := strconv.Atoi(e.ID())
			want, _ := crashEntry(burstDomain(i), i)
			if diff := storetest.Equal(e, want); diff != "" {
				t.Errorf("round %d: %s: %s", round, e.Domain(), diff)
			}
			n++
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(damaged) > 0 || n < int(committed) || n > int(committed)+burstGroup {
			t.Fatalf("round %d: %d entries read, %d committed, damaged %v", round, n, committed, damaged)
		}
		t.Logf("round %d: killed after %d committed writes; %d entries on disk", round, committed, n)
	}
}

package cache_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mtasts-go/mtasts/cache"
)

// snapDomain is the i-th domain of a snapshot test.
func snapDomain(i int) string { return fmt.Sprintf("d%04d.example", i) }

const snapCrashDirEnv = "MTASTS_CACHE_SNAPSHOT_CRASH_DIR"

// snapCrashWriter runs in the child process: it rewrites entries and the
// snapshot of dir, over and over, until it is killed.
func snapCrashWriter(dir string) {
	s := &cache.DirStore{Dir: dir}
	s.SetSnapshotMin(1)
	s.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
	ctx := context.Background()
	fmt.Println("ready")
	for i := 0; ; i++ {
		e, err := crashEntry(snapDomain(i%snapCrashDomains), i)
		if err == nil {
			err = s.Put(ctx, e)
		}
		if err == nil && i%16 == 0 {
			if err = s.Snapshot(ctx); err == nil {
				fmt.Println("snapshot")
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

const snapCrashDomains = 300

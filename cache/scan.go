package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// rangeWorkers bounds the files Range reads and decodes at once.
const rangeWorkers = 4

// scanBatch bounds the names or records that travel together between the
// goroutines of a scan: a channel operation per file would cost more than
// reading it.
const scanBatch = 64

// Range implements [Store]. It reads the directory's snapshot (see
// [DirStore.Snapshot]) and the files it does not cover, reads and decodes
// with up to four goroutines, and calls f from the caller's goroutine, one
// entry at a time; a missing directory is an empty store. Memory stays
// bounded whatever the number of files: besides the entries in flight,
// about 40 bytes per file (a set of the names' 64-bit hashes, so that each
// name is handled once).
//
// A Range that finds no snapshot writes one as it goes (from 1 024
// entries), so that the next one is fast; one that finds a sixteenth of
// the entries changed since the snapshot leaves the rewrite to
// [DirStore.Snapshot], which [DirStore.SnapshotDue] then asks for.
func (s *DirStore) Range(ctx context.Context, f func(*Entry) bool) error {
	return s.scan(ctx, f)
}

// Snapshot rewrites the directory's snapshot, ".snapshot": one file that
// packs a copy of every entry file, with each file's inode number, change
// time and size, so that [DirStore.Range] reads it sequentially and checks
// each file with one statx instead of opening and reading a million
// files. A file changed, added or deleted since is read from the directory
// as before, so the snapshot is never stale in what Range returns, only
// slower; deleting it loses nothing. Snapshot reads only the files that
// changed since the last snapshot. It writes nothing for fewer than 1 024
// entries, where reading the files takes milliseconds, nor when nothing
// changed, and nothing on systems other than Linux.
//
// A Cache made by [Open] calls it in the background when [DirStore.SnapshotDue]
// says so; call it yourself after filling a directory by other means.
func (s *DirStore) Snapshot(ctx context.Context) error {
	if !snapshots {
		return nil
	}
	return s.scan(ctx, nil)
}

// SnapshotDue reports whether the snapshot is stale enough to be
// rewritten: when the entries changed since it (written or deleted
// through s, or found changed by the last Range) make a sixteenth of a
// store of 1 024 entries or more, or, for a smaller store or one not
// scanned yet, number 1 024.
func (s *DirStore) SnapshotDue() bool {
	if !snapshots {
		return false
	}
	dirty, base, least := s.dirty.Load(), s.base.Load(), int64(s.snapshotMin())
	if base < least {
		return dirty >= least
	}
	return dirty >= max(1, base/snapshotStale)
}

// backOff makes a failed Snapshot due again only after twice the writes
// that make a snapshot due (at least 1 024 more), not after every group
// of writes: dirty is the count the failed scan began with.
func (s *DirStore) backOff(dirty int64) {
	s.dirty.Add(-dirty - max(int64(s.snapshotMin()), s.base.Load()/snapshotStale))
}

// snapshotMin returns the least number of entries for a snapshot.
func (s *DirStore) snapshotMin() int {
	if s.minSnap > 0 {
		return s.minSnap
	}
	return snapshotMin
}

// now returns the time that decides which files are too new for a
// snapshot record.
func (s *DirStore) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// scanJob is work for a scan's workers: snapshot records to check, or
// names of files that no record covers.
type scanJob struct {
	records []snapRecord
	names   []string
}

// scanResult is what a worker made of a job.
type scanResult struct {
	entries []*Entry // for f; none when the scan only snapshots
	records [][]byte // for the new snapshot
	kept    int      // entries found
	changed int      // files not covered by the old snapshot, and records of files gone
	racy    int      // entries left out of the new snapshot as too new
}

// scanState is what the goroutines of a scan share.
type scanState struct {
	s       *DirStore
	dirfd   int
	emit    bool  // decode entries for f
	record  bool  // make records for a new snapshot
	cutoff  int64 // files changed since (ns) are too new for a record
	damaged bool  // the old snapshot could not be read to its end (set by produce)
}

// scan is Range (f not nil) and Snapshot (f nil). Only a Snapshot returns
// a failure to write the snapshot.
func (s *DirStore) scan(ctx context.Context, f func(*Entry) bool) (err error) {
	d, err := os.Open(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	rctx, stop := context.WithCancel(ctx)
	dirty := s.dirty.Load()
	st := &scanState{s: s, dirfd: int(d.Fd()), emit: f != nil}
	var r *snapshotReader
	if snapshots {
		var oerr error
		if r, oerr = openSnapshot(st.dirfd, s.Dir); oerr != nil {
			s.report(oerr)
			st.damaged = true
		}
	}
	// snapFailed takes a failure to write the new snapshot: a Snapshot
	// returns the first, a Range reports them.
	snapFailed := func(e error) {
		e = fmt.Errorf("snapshot: %w", e)
		if f == nil && err == nil {
			err = e
		} else {
			s.report(e)
		}
	}
	// A Range with a snapshot does not rewrite it (a Snapshot does, when
	// enough has changed); one without writes it as it goes.
	var w *snapshotWriter
	if snapshots && (r == nil || f == nil) {
		var fsNow time.Time
		var cerr error
		if w, fsNow, cerr = createSnapshot(s.Dir); cerr != nil {
			snapFailed(cerr)
			if f == nil {
				if r != nil {
					r.close()
				}
				stop()
				d.Close()
				s.backOff(dirty)
				return err
			}
		} else {
			// Change times come from the file system's clock, which
			// may be behind this one (a network file system): the
			// earlier of the two decides what is too new.
			now := s.now()
			if s.clock == nil && !fsNow.IsZero() && fsNow.Before(now) {
				now = fsNow
			}
			st.cutoff = now.Add(-racyMargin).UnixNano()
			st.record = true
		}
	}

	jobs := make(chan scanJob, rangeWorkers)
	results := make(chan scanResult, rangeWorkers)
	var listErr error
	go func() {
		defer close(jobs)
		listErr = st.produce(rctx, r, d, jobs)
	}()
	var wg sync.WaitGroup
	for range rangeWorkers {
		wg.Go(func() { st.work(rctx, jobs, results) })
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	committed := false
	defer func() {
		// Also when f panics: no goroutine outlives the scan, none uses
		// the directory after it is closed, no temporary file is left.
		stop()
		for range results {
		}
		if w != nil && !committed {
			w.abort()
		}
		d.Close()
	}()

	stopped := false
	kept, changed, racy := 0, 0, 0
	for res := range results {
		kept += res.kept
		changed += res.changed
		racy += res.racy
		if w != nil && !stopped {
			if w.add(res.records); w.err != nil {
				w.abort() // at once: a full disk is not filled further
				snapFailed(w.err)
				w = nil
			}
		}
		for _, e := range res.entries {
			if !stopped && !f(e) {
				stopped = true
				stop()
			}
		}
	}
	whole := !stopped && ctx.Err() == nil && listErr == nil
	if whole && kept < s.snapshotMin() {
		// Too small for a snapshot: one left from a larger store is
		// stale, and nothing is owed.
		changed, racy = 0, 0
		if r != nil {
			os.Remove(filepath.Join(s.Dir, snapshotName))
		}
	}
	if w != nil && whole && kept >= s.snapshotMin() && (changed > 0 || r == nil || st.damaged) {
		if cerr := w.commit(); cerr != nil {
			snapFailed(cerr)
		} else {
			committed = true
			changed = racy // what the new snapshot left out
		}
	}
	if whole {
		s.base.Store(int64(kept))
	}
	switch {
	case err != nil:
		s.backOff(dirty)
	case whole:
		owed := int64(changed)
		if st.damaged && !committed {
			owed = max(owed, int64(s.snapshotMin()), int64(kept)/snapshotStale) // due: rewrite it
		}
		// Writes made during the scan may or may not be in it: keep
		// counting them.
		s.dirty.Add(owed - dirty)
	}
	if err != nil {
		return err
	}
	if stopped {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return listErr
}

// produce sends the jobs of a scan: the records of the snapshot r (if
// not nil), which it closes, then the names of the files they do not
// cover. It returns the error that ended the listing of the directory.
func (st *scanState) produce(ctx context.Context, r *snapshotReader, d *os.File, jobs chan<- scanJob) error {
	send := func(j scanJob) bool {
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// The names handled so far, by their hash: each name is handled
	// once, from its record or from the directory (which may list a name
	// twice when it is renamed over during the listing). Two names of the
	// same 64-bit hash would make this Range miss the second one's entry
	// (about one chance in 10^7 for a million files); the seed is new
	// for each scan, so it would not happen twice.
	seed := maphash.MakeSeed()
	covered := make(map[uint64]struct{})
	first := func(name string) bool {
		h := maphash.String(seed, name)
		if _, dup := covered[h]; dup {
			return false
		}
		covered[h] = struct{}{}
		return true
	}
	if r != nil {
		defer r.close()
		var buf []byte
		var j scanJob
		for {
			var rec snapRecord
			var err error
			buf, rec, err = r.next(buf)
			if err == nil && first(rec.name) {
				j.records = append(j.records, rec)
			}
			if len(j.records) == scanBatch || err != nil && len(j.records) > 0 {
				if !send(j) {
					return nil
				}
				j = scanJob{}
			}
			if err != nil {
				if err != io.EOF {
					st.s.report(err) // the files of the records not read are read from the directory
					st.damaged = true
				}
				break
			}
		}
	}
	for {
		des, err := d.ReadDir(1024)
		var j scanJob
		for _, de := range des {
			n := de.Name()
			if !entryFileName(n) || !first(n) {
				continue
			}
			j.names = append(j.names, n)
			if len(j.names) == scanBatch {
				if !send(j) {
					return nil
				}
				j = scanJob{}
			}
		}
		if len(j.names) > 0 && !send(j) {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return err
		}
	}
}

// work is a worker of a scan.
func (st *scanState) work(ctx context.Context, jobs <-chan scanJob, results chan<- scanResult) {
	buf := make([]byte, MaxEncodedSize+1)
	for j := range jobs {
		var res scanResult
		for _, rec := range j.records {
			st.fromRecord(rec, buf, &res)
		}
		for _, name := range j.names {
			if st.fromFile(name, buf, &res) {
				res.changed++
			}
		}
		select {
		case results <- res:
		case <-ctx.Done():
		}
	}
}

// fromRecord takes the entry of a snapshot record if its file still has
// the record's stamp, and otherwise reads the file.
func (st *scanState) fromRecord(rec snapRecord, buf []byte, res *scanResult) {
	stamp, err := statAt(st.dirfd, rec.name)
	if errors.Is(err, fs.ErrNotExist) {
		res.changed++ // deleted
		return
	}
	if err == nil && stamp == rec.stamp {
		if !st.emit {
			res.kept++
			res.records = append(res.records, rec.raw)
			return
		}
		if e, err := ParseEntry(rec.entry); err == nil && fileName(e.domain) == rec.name {
			res.kept++
			res.entries = append(res.entries, e)
			if st.record {
				res.records = append(res.records, rec.raw)
			}
			return
		}
	}
	res.changed++
	st.fromFile(rec.name, buf, res)
}

// fromFile reads the file name, and reports whether it holds an entry of
// its name; what does not is reported to OnError.
func (st *scanState) fromFile(name string, buf []byte, res *scanResult) bool {
	path := filepath.Join(st.s.Dir, name)
	var stamp fileStamp
	sp := &stamp
	if !st.record {
		sp = nil
	}
	e, n, err := readAt(st.dirfd, name, path, buf, sp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false // deleted since the directory was read
	case err != nil:
		st.s.report(err)
		return false
	case fileName(e.domain) != name:
		st.s.report(&fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: entry of %q", ErrCorrupt, e.domain)})
		return false
	}
	res.kept++
	if st.emit {
		res.entries = append(res.entries, e)
	}
	if st.record {
		if stamp.ino != 0 && stamp.ctime < st.cutoff {
			res.records = append(res.records, encodeRecord(stamp, name, buf[:n]))
		} else {
			res.racy++
		}
	}
	return true
}

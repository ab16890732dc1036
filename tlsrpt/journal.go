package tlsrpt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// A Reporter's state directory holds a snapshot of the recorder and the
// journals written since:
//
//	snapshot.json     the counts up to journal N-1, and N ("next")
//	journal.N, ...    one line per result counted, per day forgotten
//
// Every result the recorder keeps is appended to the open journal, with
// one write(2), before Record returns: a process killed at any instant
// (SIGKILL) loses nothing it acknowledged, since the kernel holds what
// was written. (A power loss may lose what the kernel had not yet
// flushed; the snapshot is fsynced.) On start, the snapshot is restored
// and the journals from N on are replayed, a torn last line ignored; a
// new journal is opened and the state compacted: a new snapshot
// (written to a temporary file, synced, renamed) names the new journal
// as next, and the older journals are deleted. A crash at any step
// leaves either the old snapshot and every journal after it, or the new
// snapshot and the new journal: never a count twice, never one lost.

const snapshotFile = "snapshot.json"

// journalEntry is one line of a journal.
type journalEntry struct {
	Op     string     `json:"o"` // "r": a result counted; "f": a day (and domain) forgotten; "n": a domain without record
	Day    int64      `json:"d"`
	Domain string     `json:"k,omitempty"`
	Type   PolicyType `json:"t,omitempty"`
	Text   string     `json:"p,omitempty"` // the policy's key text (lines, NUL, mx)
	failureWire
	Batch []Count `json:"b,omitempty"` // of "b": counts taken to push to a Fleet, id in Domain
}

type journal struct {
	dir     string
	pending func() map[string][]Count // fleet batches not yet pushed, kept in snapshots; may be nil

	mu    sync.Mutex
	f     *os.File
	seq   int
	buf   bytes.Buffer
	size  int64 // bytes written to the open journal
	limit int64 // size past which it is compacted; 0 means compactSize (tests lower it)
}

// compactSize is the journal size past which the Reporter compacts: the
// snapshot is bounded by the recorder's limits, the journal only by time.
const compactSize = 32 << 20

type stateFile struct {
	Next     int                `json:"next"`
	Snapshot json.RawMessage    `json:"snapshot"`
	Pending  map[string][]Count `json:"pending,omitempty"` // fleet batches not yet pushed
}

// LoadState adds the counts held in a Reporter's state directory dir to
// rec, reading only, so that a tool can inspect the counts without
// disturbing the Reporter. The view is exact once the Reporter has
// stopped; while it runs, a compaction between the reads may hide the
// latest results. A directory that does not exist holds nothing.
func LoadState(dir string, rec *Recorder) error {
	_, err := loadState(dir, rec, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// openJournal restores the state in dir into rec, and opens a new journal
// after compacting.
func openJournal(dir string, rec *Recorder, fleet func(*journalEntry), pending func() map[string][]Count) (*journal, error) {
	// The directory is created, not its parents: a mistyped path fails
	// now rather than keeping the state where nobody looks.
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	last, err := loadState(dir, rec, fleet)
	if err != nil {
		return nil, err
	}
	j := &journal{dir: dir, seq: last, pending: pending}
	if err := j.compact(rec); err != nil {
		return nil, err
	}
	return j, nil
}

// loadState restores the snapshot and journals of dir into rec, and
// returns the number of the last journal.
// Fleet entries ("b", "x") go to fleet, if not nil.
func loadState(dir string, rec *Recorder, fleet func(*journalEntry)) (int, error) {
	next := 0
	data, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	switch {
	case err == nil:
		var st stateFile
		if err := json.Unmarshal(data, &st); err != nil {
			return 0, fmt.Errorf("tlsrpt: %s: %w: %v", snapshotFile, ErrBadSnapshot, err)
		}
		if err := rec.Restore(st.Snapshot); err != nil {
			return 0, err
		}
		for id, batch := range st.Pending {
			if fleet != nil {
				fleet(&journalEntry{Op: "b", Domain: id, Batch: batch})
			}
		}
		next = st.Next
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	}
	seqs, err := journalSeqs(dir)
	if err != nil {
		return 0, err
	}
	last := next - 1
	for _, s := range seqs {
		last = max(last, s)
		if s < next {
			continue
		}
		err := replay(filepath.Join(dir, "journal."+strconv.Itoa(s)), rec, fleet)
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // compacted meanwhile
			return 0, err
		}
	}
	return last, nil
}

func journalSeqs(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []int
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), "journal."); ok {
			if s, err := strconv.Atoi(n); err == nil && s >= 0 {
				seqs = append(seqs, s)
			}
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

// replay applies a journal's entries to rec; a line that does not parse
// (the torn end of a crash) ends it.
func replay(path string, rec *Recorder, fleet func(*journalEntry)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	replayFrom(f, rec, fleet)
	return nil // a read error is a torn end too
}

// replayFrom applies the journal lines read from r to rec, up to the first
// line that does not decode (a torn end).
func replayFrom(r io.Reader, rec *Recorder, fleet func(*journalEntry)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e journalEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			break
		}
		if e.Op == "b" {
			rec.takeCounts() // the counts went into the batch
		}
		if isFleetOp(e.Op) {
			if fleet != nil {
				fleet(&e)
			}
			continue
		}
		rec.apply(&e)
	}
}

// compact opens journal seq+1, then writes a snapshot of rec naming it as
// next, then deletes the older journals. Results recorded meanwhile wait
// on j.mu, so that the snapshot holds exactly what the older journals do.
func (j *journal) compact(rec *Recorder) error {
	j.mu.Lock()
	f, err := os.OpenFile(filepath.Join(j.dir, "journal."+strconv.Itoa(j.seq+1)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		j.mu.Unlock()
		return err
	}
	snap, err := rec.Snapshot()
	if err != nil {
		j.mu.Unlock()
		f.Close()
		return err
	}
	var pending map[string][]Count
	if j.pending != nil {
		pending = j.pending()
	}
	old := j.f
	j.f = f
	j.size = 0
	j.seq++
	next := j.seq
	j.mu.Unlock()
	if old != nil {
		old.Close()
	}
	data, err := json.Marshal(stateFile{Next: next, Snapshot: snap, Pending: pending})
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(j.dir, snapshotFile), data); err != nil {
		return err
	}
	seqs, err := journalSeqs(j.dir)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if s < next {
			os.Remove(filepath.Join(j.dir, "journal."+strconv.Itoa(s)))
		}
	}
	return nil
}

// append writes e as one line, with one write; j.mu is held.
func (j *journal) append(e *journalEntry) error {
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return err
	}
	n, err := j.f.Write(j.buf.Bytes())
	j.size += int64(n)
	return err
}

// full reports whether the journal should be compacted; j.mu is held.
func (j *journal) full() bool {
	limit := j.limit
	if limit <= 0 {
		limit = compactSize
	}
	return j.size > limit
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// writeAtomic writes data to path through a synced temporary file renamed
// over it, and syncs the directory, so that path always holds a whole file,
// old or new. The journal's compaction and Recorder.SaveFile both use it.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	// Make the rename durable. Not every system can sync a directory, and
	// the file is whole either way: a failure here is not reported.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

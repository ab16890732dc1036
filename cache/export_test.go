package cache

import (
	"io"
	"os"
	"path/filepath"
	"time"
)

// FillUnsynced writes e's file as Put does, but without syncing anything:
// for the benchmarks that fill a directory with a million entries, where
// durability does not matter and fsync would take most of an hour.
func (s *DirStore) FillUnsynced(e *Entry) error { return s.writeFile(e, false) }

// SetClock sets the time that decides which files are too new for a
// snapshot record.
func (s *DirStore) SetClock(now func() time.Time) { s.clock = now }

// SetSnapshotMin sets the least number of entries for a snapshot.
func (s *DirStore) SetSnapshotMin(n int) { s.minSnap = n }

// SnapshotNames returns the names of the files that dir's snapshot
// covers, in its order, and whether there is one.
func SnapshotNames(dir string) ([]string, bool, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, false, err
	}
	defer d.Close()
	r, err := openSnapshot(int(d.Fd()), dir)
	if r == nil || err != nil {
		return nil, false, err
	}
	defer r.close()
	var names []string
	for {
		_, rec, err := r.next(nil)
		if err == io.EOF {
			return names, true, nil
		}
		if err != nil {
			return names, true, err
		}
		names = append(names, rec.name)
	}
}

// SnapshotMagic is the first line of a snapshot.
const SnapshotMagic = snapshotMagic

// EncodeSnapshotRecord encodes a snapshot record of the file name, with
// the stamp of the file at path.
func EncodeSnapshotRecord(path, name string, content []byte) ([]byte, error) {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	st, err := statAt(int(d.Fd()), filepath.Base(path))
	if err != nil {
		return nil, err
	}
	return encodeRecord(st, name, content), nil
}

// DecodeSnapshotRecord decodes one record.
func DecodeSnapshotRecord(raw []byte) (name string, content []byte, err error) {
	r, err := decodeRecord(raw)
	return r.name, r.entry, err
}

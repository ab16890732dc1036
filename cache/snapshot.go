package cache

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A DirStore's snapshot is the file ".snapshot" of its directory: a packed
// copy of the entry files, so that Range reads one file sequentially instead
// of opening a million. It is only ever an accelerator: each of its records
// carries the inode number, change time (ns) and size of the file it copies,
// and Range uses a record only while the file still has exactly that stamp,
// which costs one fstatat instead of an openat, a read and a close. A file
// replaced since (every write is a rename of a new inode), written in place,
// deleted or added is read from the directory as before. The files stay the
// truth: deleting the snapshot loses nothing.
//
// A record is written only for a file whose change time is older than the
// start of the scan that writes it by racyMargin: a file replaced later in
// the same clock tick by one that reuses its inode number and has the same
// size would otherwise have the very same stamp (the problem git's index
// calls "racily clean"). The start is the earlier of this machine's clock
// and the change time of the new snapshot file, which the file system sets
// from its own clock (a network file system's server may lag), and the
// stamps are read with statx's default sync, so that a network file
// system answers for the file as it is now.
//
// The format: the line snapshotMagic, then records of
//
//	length  uint32, big-endian: of the bytes after the checksum
//	crc32c  uint32, big-endian: of the bytes after it
//	ino     uint64
//	ctime   int64, ns since 1970
//	size    int64
//	namelen uint8
//	name    the file's name
//	content the file's bytes, an entry as MarshalBinary encodes it
//
// Reading stops at the first record that is torn or damaged; the files it
// would have covered are read from the directory.
const (
	snapshotName  = ".snapshot"
	snapshotMagic = "mtasts dirstore snapshot 1\n"
	recordHead    = 8             // length and checksum
	recordFixed   = 8 + 8 + 8 + 1 // ino, ctime, size, namelen
	maxRecord     = recordFixed + 255 + MaxEncodedSize
	racyMargin    = time.Second

	// snapshotMin is the least number of entries for which a snapshot
	// is written: reading fewer files takes milliseconds.
	snapshotMin = 1024
	// snapshotStale is the fraction (1/snapshotStale) of the entries
	// that must have changed since the snapshot for a Range to rewrite
	// it, and for SnapshotDue to ask for it.
	snapshotStale = 16
)

// fileStamp identifies one version of a file: the zero stamp is none.
type fileStamp struct {
	ino   uint64
	ctime int64
	size  int64
}

// snapRecord is a decoded record; raw is all of it, head included.
type snapRecord struct {
	stamp fileStamp
	name  string
	entry []byte
	raw   []byte
}

// encodeRecord returns the record of a file's content.
func encodeRecord(st fileStamp, name string, content []byte) []byte {
	n := recordFixed + len(name) + len(content)
	b := make([]byte, recordHead, recordHead+n)
	binary.BigEndian.PutUint32(b[0:], uint32(n))
	b = binary.BigEndian.AppendUint64(b, st.ino)
	b = binary.BigEndian.AppendUint64(b, uint64(st.ctime))
	b = binary.BigEndian.AppendUint64(b, uint64(st.size))
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, content...)
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[recordHead:], castagnoli))
	return b
}

// errBadRecord: a snapshot record is torn or damaged.
var errBadRecord = fmt.Errorf("%w: bad snapshot record", ErrCorrupt)

// decodeRecord decodes a record whose head says it is len(raw) long.
// A name that could leave the directory, or that is no entry file's
// name, makes it bad.
func decodeRecord(raw []byte) (snapRecord, error) {
	if len(raw) < recordHead+recordFixed ||
		crc32.Checksum(raw[recordHead:], castagnoli) != binary.BigEndian.Uint32(raw[4:]) {
		return snapRecord{}, errBadRecord
	}
	p := raw[recordHead:]
	r := snapRecord{
		stamp: fileStamp{
			ino:   binary.BigEndian.Uint64(p[0:]),
			ctime: int64(binary.BigEndian.Uint64(p[8:])),
			size:  int64(binary.BigEndian.Uint64(p[16:])),
		},
		raw: raw,
	}
	nl := int(p[24])
	p = p[recordFixed:]
	if nl > len(p) {
		return snapRecord{}, errBadRecord
	}
	r.name, r.entry = string(p[:nl]), p[nl:]
	if !entryFileName(r.name) || int64(len(r.entry)) != r.stamp.size || r.stamp.ino == 0 {
		return snapRecord{}, errBadRecord
	}
	return r, nil
}

// entryFileName reports whether name can be an entry file's name in the
// directory: Range reads only those.
func entryFileName(name string) bool {
	return strings.HasSuffix(name, fileSuffix) && !strings.HasPrefix(name, ".") &&
		!strings.ContainsAny(name, "/\x00") && len(name) <= 255
}

// snapshotReader reads the records of a snapshot file.
type snapshotReader struct {
	f *os.File
	r *bufio.Reader
}

// openSnapshot opens the snapshot of the directory dirfd, whose path is
// dir. It returns nil and no error when there is none, and an error
// wrapping ErrCorrupt when it is not one.
func openSnapshot(dirfd int, dir string) (*snapshotReader, error) {
	path := filepath.Join(dir, snapshotName)
	f, err := openRegular(dirfd, snapshotName, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		f.Close()
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: not a snapshot", ErrCorrupt)}
	}
	return &snapshotReader{f: f, r: r}, nil
}

// next reads the next record into the free capacity of buf, or into a new
// block when it does not fit (the records already in buf keep theirs), and
// returns the buffer to read the following one into. It returns io.EOF at
// the clean end of the snapshot, or an error wrapping ErrCorrupt.
func (s *snapshotReader) next(buf []byte) ([]byte, snapRecord, error) {
	var head [recordHead]byte
	if _, err := io.ReadFull(s.r, head[:]); err != nil {
		if err == io.EOF {
			return buf, snapRecord{}, io.EOF
		}
		return buf, snapRecord{}, s.bad(err)
	}
	n := int(binary.BigEndian.Uint32(head[:]))
	if n < recordFixed || n > maxRecord {
		return buf, snapRecord{}, s.bad(errBadRecord)
	}
	// Each record starts on a word, apart from the bytes of the
	// one before, which a worker may be reading.
	start := (len(buf) + 7) &^ 7
	if need := recordHead + n; cap(buf)-start < need {
		buf, start = make([]byte, 0, max(snapshotBlock, need)), 0
	}
	buf = buf[:start+recordHead+n]
	copy(buf[start:], head[:])
	if _, err := io.ReadFull(s.r, buf[start+recordHead:]); err != nil {
		return buf[:start], snapRecord{}, s.bad(err)
	}
	rec, err := decodeRecord(buf[start:len(buf):len(buf)])
	if err != nil {
		return buf[:start], snapRecord{}, s.bad(err)
	}
	return buf, rec, nil
}

// snapshotBlock is the size of the blocks that records are read into.
const snapshotBlock = 64 << 10

// bad returns the error of a snapshot that cannot be read on: torn,
// damaged or unreadable, all reported as ErrCorrupt.
func (s *snapshotReader) bad(err error) error {
	if !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("%w: torn or unreadable snapshot: %v", ErrCorrupt, err)
	}
	return &fs.PathError{Op: "read", Path: s.f.Name(), Err: err}
}

func (s *snapshotReader) close() { s.f.Close() }

// snapshotWriter writes a new snapshot beside the old one, which it
// replaces on commit.
type snapshotWriter struct {
	dir string
	f   *os.File
	w   *bufio.Writer
	err error
}

// createSnapshot starts a new snapshot in dir. It also returns the change
// time of the new file, the file system's own idea of now (the zero time
// where it is not known).
func createSnapshot(dir string) (*snapshotWriter, time.Time, error) {
	f, err := os.CreateTemp(dir, tempPrefix+"snapshot-*")
	if err != nil {
		return nil, time.Time{}, err
	}
	w := &snapshotWriter{dir: dir, f: f, w: bufio.NewWriterSize(f, 1<<20)}
	_, w.err = w.w.WriteString(snapshotMagic)
	return w, fileCtime(f), nil
}

// add writes records; the first failure sticks.
func (w *snapshotWriter) add(records [][]byte) {
	for _, r := range records {
		if w.err != nil {
			return
		}
		_, w.err = w.w.Write(r)
	}
}

// commit makes the new snapshot durable and puts it in place.
func (w *snapshotWriter) commit() error {
	err := w.err
	if err == nil {
		err = w.w.Flush()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), filepath.Join(w.dir, snapshotName))
	}
	if err != nil {
		os.Remove(w.f.Name())
		return err
	}
	return syncDir(w.dir)
}

// abort removes the new snapshot; it may be called more than once.
func (w *snapshotWriter) abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

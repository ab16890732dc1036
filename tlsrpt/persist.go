package tlsrpt

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Persistence is a snapshot of the whole recorder, as JSON, rather than a
// store written on every Record: the state is small (bounded by
// Options.MaxPolicies and MaxFailureGroups), Record stays free of I/O, and
// one file written atomically can never be half old and half new. A
// process saves it when it stops (and, to bound what a crash loses, now and
// then) and restores it when it starts.

// snapshotVersion is the format version of Snapshot's JSON.
const snapshotVersion = 1

// ErrBadSnapshot is wrapped by the errors of Restore and LoadFile for data
// that is not a valid snapshot.
var ErrBadSnapshot = errors.New("invalid recorder snapshot")

type snapshot struct {
	Version int             `json:"version"`
	ID      string          `json:"id,omitempty"` // random, so that Restore of the same snapshot twice adds once
	Entries []snapshotEntry `json:"entries"`
}

type snapshotEntry struct {
	Day       string          `json:"day"` // 2006-01-02
	Policy    AppliedPolicy   `json:"policy"`
	Success   uint64          `json:"success"`
	Failure   uint64          `json:"failure"`
	Ungrouped uint64          `json:"ungrouped,omitempty"`
	Details   []FailureDetail `json:"details,omitempty"`
}

// Snapshot returns every count the recorder holds, as JSON, for Restore.
func (r *Recorder) Snapshot() ([]byte, error) {
	s := snapshot{Version: snapshotVersion, ID: rand.Text(), Entries: []snapshotEntry{}}
	r.mu.Lock()
	for k, c := range r.policies {
		pr := c.report(k, 2*r.maxGroups)
		s.Entries = append(s.Entries, snapshotEntry{
			Day:       dayTime(k.day).Format(time.DateOnly),
			Policy:    pr.Policy,
			Success:   c.success,
			Failure:   c.failure,
			Ungrouped: c.ungrouped,
			Details:   pr.FailureDetails,
		})
	}
	r.mu.Unlock()
	return json.Marshal(s)
}

// Restore adds the counts of a Snapshot to those of r (so that results
// recorded before a restore are kept). It checks the whole snapshot
// first: on error, nothing is added. The limits of Options apply.
// Restore is idempotent: a snapshot restored once already (each has an
// id of its own) adds nothing the second time.
func (r *Recorder) Restore(data []byte) error {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("tlsrpt: %w: %v", ErrBadSnapshot, err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("tlsrpt: %w: version %d", ErrBadSnapshot, s.Version)
	}
	type item struct {
		day    int64
		domain string
		typ    PolicyType
		pt     policyText
		e      *snapshotEntry
	}
	items := make([]item, 0, len(s.Entries))
	for i := range s.Entries {
		e := &s.Entries[i]
		day, err := time.Parse(time.DateOnly, e.Day)
		dom, ok := canonDomain(e.Policy.Domain)
		if err != nil || !ok || !e.Policy.Type.Valid() {
			return fmt.Errorf("tlsrpt: %w: entry %d", ErrBadSnapshot, i)
		}
		grouped := e.Ungrouped
		for _, d := range e.Details {
			if !d.ResultType.Valid() || d.FailedSessionCount < 0 {
				return fmt.Errorf("tlsrpt: %w: entry %d", ErrBadSnapshot, i)
			}
			grouped += uint64(d.FailedSessionCount)
		}
		e.Failure = max(e.Failure, grouped) // the summary counts every failure
		pt := newPolicyText(e.Policy.PolicyString, e.Policy.MXHost)
		items = append(items, item{dayOf(day), dom, e.Policy.Type, pt, e})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.ID != "" {
		if r.restored[s.ID] {
			return nil
		}
		if r.restored == nil {
			r.restored = make(map[string]bool)
		}
		r.restored[s.ID] = true
	}
	for _, it := range items {
		c, why := r.entry(it.day, it.domain, it.typ, it.pt, false)
		if c == nil {
			*why += it.e.Success + it.e.Failure
			continue
		}
		c.success += it.e.Success
		c.failure += it.e.Failure
		c.ungrouped += it.e.Ungrouped
		for _, d := range it.e.Details {
			fk := failureKey{
				result:    d.ResultType,
				sending:   reportAddr(d.SendingMTAIP),
				receiving: reportAddr(d.ReceivingIP),
				helo:      d.ReceivingMXHelo,
				reason:    d.FailureReasonCode,
			}
			fk.mx, _ = canonDomain(d.ReceivingMXHostname)
			r.addGroup(c, fk, uint64(d.FailedSessionCount), cleanInfo(d.AdditionalInformation))
		}
	}
	return nil
}

// SaveFile writes a Snapshot to path atomically: to a temporary file in
// the same directory, synced, then renamed over path, and the directory
// synced, so that path always holds a whole snapshot, old or new.
func (r *Recorder) SaveFile(path string) error {
	data, err := r.Snapshot()
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

// LoadFile restores the snapshot that SaveFile wrote to path. A missing
// file is not an error: there is nothing to restore.
func (r *Recorder) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.Restore(data)
}

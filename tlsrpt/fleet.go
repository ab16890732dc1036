package tlsrpt

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Fleet shares the counts of the Reporters of several MTA nodes, and
// lets exactly one of them send each report. tlsrpt/redisreport
// implements it on Redis. A Reporter with a Fleet keeps its own counts
// (journaled) only until it pushes them, every FlushInterval and before
// planning a day; reports are built from the shared counts by the node
// that holds the (day, domain) lease.
type Fleet interface {
	// Push adds batch to the shared counts atomically, once: a batch
	// pushed again with the same id adds nothing (a node that crashed
	// after a push and before journaling it pushes it again).
	Push(ctx context.Context, id string, batch []Count) error
	// Domains returns the policy domains with shared counts on the UTC
	// day that contains day.
	Domains(ctx context.Context, day time.Time) ([]string, error)
	// Counts returns the shared counts of one domain's day.
	Counts(ctx context.Context, day time.Time, domain string) ([]Count, error)
	// Lease makes node the sender of the report of (day, domain) for
	// ttl, and reports whether it is: false when another node holds the
	// lease or the report is done. A node that holds it gets true again.
	Lease(ctx context.Context, day time.Time, domain, node string, ttl time.Duration) (bool, error)
	// Done marks the report of (day, domain) as sent or given up, and
	// drops its counts.
	Done(ctx context.Context, day time.Time, domain string) error
}

// Count is one shared counter: the successes under a policy, or one
// failure group, or the failures beyond the group cap. Key is opaque
// (this package encodes it); counters with equal Day, Domain and Key add
// up.
type Count struct {
	Day    time.Time // 00:00:00 UTC of the day
	Domain string
	Key    string
	N      uint64
}

// countKey is what a Count's Key encodes.
type countKey struct {
	Type PolicyType `json:"t"`
	Text string     `json:"p,omitempty"`
	Kind string     `json:"k"` // "s" success, "g" failure group, "u" failures not grouped
	failureWire
}

func encodeKey(k countKey) string {
	b, _ := json.Marshal(k) // of strings and addresses: cannot fail
	return string(b)
}

// takeCounts returns every count of r as Counts and empties r; r.mu is
// not held.
func (r *Recorder) takeCounts() []Count {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Count
	for k, c := range r.policies {
		day, base := dayTime(k.day), countKey{Type: k.typ, Text: c.text}
		add := func(ck countKey, n uint64) {
			if n > 0 {
				out = append(out, Count{Day: day, Domain: k.domain, Key: encodeKey(ck), N: n})
			}
		}
		s := base
		s.Kind = "s"
		add(s, c.success)
		u := base
		u.Kind = "u"
		add(u, c.ungrouped)
		for fk, g := range c.groups {
			gk := base
			gk.Kind, gk.failureWire = "g", wireOf(fk, g.info)
			add(gk, g.n)
		}
		r.remove(k, c)
	}
	return out
}

// addCounts adds counts to r, the limits of Options applying; counts
// that do not decode are skipped.
func (r *Recorder) addCounts(counts []Count) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cnt := range counts {
		var ck countKey
		dom, ok := canonDomain(cnt.Domain)
		if json.Unmarshal([]byte(cnt.Key), &ck) != nil || !ok || !ck.Type.Valid() || ck.Kind == "g" && !ck.Result.Valid() ||
			ck.Kind != "s" && ck.Kind != "u" && ck.Kind != "g" {
			continue
		}
		pt := policyTextOfKey(ck.Text)
		c, why := r.entry(dayOf(cnt.Day), dom, ck.Type, pt, false)
		if c == nil {
			*why += cnt.N
			continue
		}
		switch ck.Kind {
		case "s":
			c.success += cnt.N
		case "u":
			c.failure += cnt.N
			c.ungrouped += cnt.N
		case "g":
			c.failure += cnt.N
			r.addGroup(c, ck.key(), cnt.N, ck.info())
		}
	}
}

// flush pushes this node's counts to the fleet: under the journal's lock
// the counts are taken and journaled as a batch ("b"), then pushed, then
// the push is journaled ("x"). A batch journaled but not marked pushed
// is pushed again after a restart, under the same id.
func (r *Reporter) flush(ctx context.Context) error {
	var id string
	var batch []Count
	if r.j != nil {
		r.j.mu.Lock()
		batch = r.rec.takeCounts()
		if len(batch) > 0 {
			id = r.ropts.UniqueID + "-" + randomID()
			if err := r.j.append(&journalEntry{Op: "b", Domain: id, Batch: batch}); err != nil {
				r.j.mu.Unlock()
				r.rec.addCounts(batch) // not journaled as a batch: keep them here
				return err
			}
			// Pending before j.mu is released: a compaction keeps it.
			r.mu.Lock()
			r.pending[id] = batch
			r.mu.Unlock()
		}
		r.j.mu.Unlock()
	} else if batch = r.rec.takeCounts(); len(batch) > 0 {
		r.mu.Lock()
		r.pending[r.ropts.UniqueID+"-"+randomID()] = batch
		r.mu.Unlock()
	}
	return r.pushPending(ctx)
}

// pushPending pushes the batches not yet pushed.
func (r *Reporter) pushPending(ctx context.Context) error {
	r.mu.Lock()
	ids := make([]string, 0, len(r.pending))
	for id := range r.pending {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	var first error
	for _, id := range ids {
		r.mu.Lock()
		batch := r.pending[id]
		r.mu.Unlock()
		if err := r.opts.Fleet.Push(ctx, id, batch); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if r.j != nil {
			r.j.mu.Lock()
			if r.j.f != nil {
				r.j.append(&journalEntry{Op: "x", Domain: id})
			}
			r.j.mu.Unlock()
		}
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	}
	return first
}

func isFleetOp(op string) bool { return strings.Contains("bx", op) && len(op) == 1 }

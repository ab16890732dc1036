package tlsrpt

import (
	"net/netip"
	"strings"

	"github.com/mtasts-go/mtasts/validate"
)

// The entries of a Recorder: their creation under the limits, their
// policy ids, their removal, and their replay from stored forms.

// entry returns the counts for k, creating them from pt if there is room
// and the domain may report; if not, nil and the Stats counter of the
// reason. r.mu is held.
func (r *Recorder) entry(day int64, domain string, typ PolicyType, pt policyText, gate bool) (*counts, *uint64) {
	pid, interned := pt.pid, true
	if pid == 0 && pt.text != "" {
		pid, interned = r.pids[pt.text]
	}
	k := policyKey{day: day, domain: domain, typ: typ, pid: pid}
	if interned {
		if c := r.policies[k]; c != nil {
			return c, nil
		}
	}
	unknown := false
	if gate && r.status != nil {
		publishes, known := r.status(k.domain)
		switch {
		case known && !publishes:
			return nil, &r.stats.NoRecord
		case !known:
			unknown = true
			if r.unknown >= r.maxPolicies/2 {
				return nil, &r.stats.OverLimit
			}
		}
	}
	if len(r.policies) >= r.maxPolicies || r.textBytes+len(pt.text) > r.maxBytes {
		return nil, &r.stats.OverLimit
	}
	if !interned {
		k.pid = r.intern(pt.text)
	}
	if k.pid != 0 {
		r.pidRefs[k.pid]++
	}
	c := &counts{text: pt.text, lines: pt.lines, mx: pt.mx, unknown: unknown}
	r.policies[k] = c
	r.textBytes += len(pt.text)
	if unknown {
		r.unknown++
	}
	return c, nil
}

// apply replays a journal entry: a result counted, a day forgotten, a
// domain found to publish no record.
// The limits apply, but not Options.RecordStatus: what was kept once is
// kept again.
func (r *Recorder) apply(e *journalEntry) {
	switch e.Op {
	case "f":
		r.forget(e.Day, e.Domain)
		return
	case "n":
		r.Resolved(e.Domain, false)
		return
	}
	dom, ok := canonDomain(e.Domain)
	if e.Op != "r" || !ok || !e.Type.Valid() || e.Result != "" && !e.Result.Valid() {
		return
	}
	pt := policyTextOfKey(e.Text)
	r.mu.Lock()
	defer r.mu.Unlock()
	c, why := r.entry(e.Day, dom, e.Type, pt, false)
	if c == nil {
		*why++
		return
	}
	if e.Result == "" {
		c.success++
		return
	}
	c.failure++
	r.addGroup(c, e.key(), 1, e.info())
}

// policyTextOfKey splits the key text of a policy back into its parts.
func policyTextOfKey(text string) policyText {
	if text == "" {
		return policyText{}
	}
	l, m, ok := strings.Cut(text, "\x00")
	if !ok { // not a key this package wrote: the text as one line
		return newPolicyText([]string{text}, nil)
	}
	n := func(s string) int {
		if s == "" {
			return 0
		}
		return strings.Count(s, "\n") + 1
	}
	return policyText{text: text, lines: splitNonEmpty(l, n(l)), mx: splitNonEmpty(m, n(m))}
}

// intern returns a new id for text; r.mu is held.
func (r *Recorder) intern(text string) uint64 {
	r.nextPID++
	r.pids[text] = r.nextPID
	return r.nextPID
}

// remove deletes the entry k; r.mu is held.
func (r *Recorder) remove(k policyKey, c *counts) {
	delete(r.policies, k)
	r.textBytes -= len(c.text)
	r.groups -= len(c.groups)
	if k.pid != 0 {
		if r.pidRefs[k.pid]--; r.pidRefs[k.pid] <= 0 {
			// The id goes; the memo may hold it, and goes too.
			delete(r.pidRefs, k.pid)
			delete(r.pids, c.text)
			clear(r.memo)
		}
	}
	if c.unknown {
		r.unknown--
	}
}

// Resolved tells the recorder whether domain publishes a TLS-RPT record,
// for Options.RecordStatus: if not, its counts are dropped (and counted
// in Stats().NoRecord), since no report can go anywhere; if so, its
// entries no longer count against the share of domains not yet known.
func (r *Recorder) Resolved(domain string, publishes bool) {
	d, ok := canonDomain(domain)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, c := range r.policies {
		if k.domain != d {
			continue
		}
		if !publishes {
			r.stats.NoRecord += c.success + c.failure
			r.remove(k, c)
		} else if c.unknown {
			c.unknown = false
			r.unknown--
		}
	}
}

// keepDays is how many UTC days a recorder keeps: today, yesterday (the
// day being reported) and the day before, so that a day's counts live
// until 48 hours after its end, the time RFC 8460 section 5.5 gives a
// report's retries and then some.
const keepDays = 3

// expire forgets the days that ended more than 48 hours before day, once
// per new day; r.mu is held.
func (r *Recorder) expire(day int64) {
	if day <= r.lastDay {
		return
	}
	r.lastDay = day
	for k, c := range r.policies {
		if k.day <= day-keepDays {
			r.stats.Expired += c.success + c.failure
			r.remove(k, c)
		}
	}
}

// cleanKey builds a failure key from stored values (a journal, a fleet),
// made what Record would have made of them.
func cleanKey(rt validate.ResultType, send, recv netip.Addr, mx, helo, reason string) failureKey {
	fk := failureKey{result: rt, sending: reportAddr(send), receiving: reportAddr(recv), helo: capText(helo), reason: capText(reason)}
	fk.mx, _ = canonDomain(mx)
	return fk
}

// failureWire is a failure group's key and additional information as the
// journal's entries and a Fleet's counts write them: both read back
// through key and info, which clean what they read.
type failureWire struct {
	Result validate.ResultType `json:"r,omitempty"`
	Send   netip.Addr          `json:"s,omitzero"`
	Recv   netip.Addr          `json:"i,omitzero"`
	MX     string              `json:"x,omitempty"`
	HELO   string              `json:"h,omitempty"`
	Reason string              `json:"c,omitempty"`
	Info   string              `json:"a,omitempty"`
}

// wireOf is the wire form of a failure group's key and information. The
// zero key (a success) has an empty Result.
func wireOf(fk failureKey, info string) failureWire {
	return failureWire{Result: fk.result, Send: fk.sending, Recv: fk.receiving,
		MX: fk.mx, HELO: fk.helo, Reason: fk.reason, Info: info}
}

// key is the failure key that w writes, cleaned as a report needs it.
func (w failureWire) key() failureKey {
	return cleanKey(w.Result, w.Send, w.Recv, w.MX, w.HELO, w.Reason)
}

// info is the additional information that w writes, if it is an absolute
// URI.
func (w failureWire) info() string { return cleanInfo(w.Info) }

// cleanInfo returns info if it is an absolute URI, else "".
func cleanInfo(info string) string {
	if isAbsoluteURI(info) {
		return info
	}
	return ""
}

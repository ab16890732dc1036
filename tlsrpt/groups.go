package tlsrpt

import (
	"cmp"
	"slices"
)

// Failure groups are capped per (day, domain, policy): a report lists at
// most Options.MaxFailureGroups failure details. To keep the largest
// groups rather than the first ones seen, a policy holds up to twice the
// cap; when that fills, the smaller half is folded into one remainder
// count, and the groups kept go on counting. A group that was folded
// and comes back starts again from zero, its earlier sessions staying in
// the remainder: the kept details plus the remainder always add up to
// the failure total, and no group is ever counted twice.

// addGroup adds n failures to group k of c. The caller counts them in
// the total. r.mu is held.
func (r *Recorder) addGroup(c *counts, k failureKey, n uint64, info string) {
	g, ok := c.groups[k]
	if !ok {
		if c.groups == nil {
			c.groups = make(map[failureKey]group)
		}
		if len(c.groups) >= 2*r.maxGroups {
			r.groups -= c.fold(r.maxGroups)
		}
		if r.groups >= r.maxGroupsTotal {
			c.ungrouped += n // no room in the whole recorder
			return
		}
		r.groups++
		g.info = info
	}
	g.n += n
	c.groups[k] = g
}

// fold keeps the keep largest groups, adds the others to ungrouped, and
// returns how many groups went.
func (c *counts) fold(keep int) int {
	type kv struct {
		k failureKey
		g group
	}
	all := make([]kv, 0, len(c.groups))
	for k, g := range c.groups {
		all = append(all, kv{k, g})
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Or(cmp.Compare(b.g.n, a.g.n), compareKeys(a.k, b.k)) })
	gone := all[min(keep, len(all)):]
	for _, e := range gone {
		c.ungrouped += e.g.n
		delete(c.groups, e.k)
	}
	return len(gone)
}

// details returns the failure details of c, at most max of them (the
// largest), sorted for reports, and the failures not in them.
func (c *counts) details(max int) ([]FailureDetail, uint64) {
	out := make([]FailureDetail, 0, min(len(c.groups), max))
	rest := c.ungrouped
	for fk, g := range c.groups {
		out = append(out, FailureDetail{
			ResultType:            fk.result,
			SendingMTAIP:          fk.sending,
			ReceivingMXHostname:   fk.mx,
			ReceivingMXHelo:       fk.helo,
			ReceivingIP:           fk.receiving,
			FailedSessionCount:    jsonInt(g.n),
			AdditionalInformation: g.info,
			FailureReasonCode:     fk.reason,
		})
	}
	if len(out) > max {
		slices.SortFunc(out, func(a, b FailureDetail) int {
			return cmp.Or(cmp.Compare(b.FailedSessionCount, a.FailedSessionCount), compareDetails(a, b))
		})
		for _, d := range out[max:] {
			rest += uint64(d.FailedSessionCount)
		}
		out = out[:max]
	}
	slices.SortFunc(out, compareDetails)
	return out, rest
}

func compareKeys(a, b failureKey) int {
	return cmp.Or(
		cmp.Compare(a.result, b.result),
		cmp.Compare(a.mx, b.mx),
		a.receiving.Compare(b.receiving),
		a.sending.Compare(b.sending),
		cmp.Compare(a.helo, b.helo),
		cmp.Compare(a.reason, b.reason),
	)
}

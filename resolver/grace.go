package resolver

import "time"

// dnsRun is an unbroken run of temporary failures of a domain's _mta-sts
// lookup.
type dnsRun struct {
	first, last time.Time
}

// noteDNSFailure records a temporary failure of domain's _mta-sts lookup at
// now and returns when the run of failures began. A run whose last failure
// is older than the grace (or an hour, if longer) is over: nothing was
// known of the domain in between.
func (r *Resolver) noteDNSFailure(domain string, now time.Time) time.Time {
	run, ok := r.dnsFailing.Get(domain)
	if !ok || now.Sub(run.last) > max(r.opts.TemporaryErrorGrace, time.Hour) || now.Before(run.first) {
		run.first = now
	}
	run.last = now
	r.dnsFailing.Add(domain, run)
	return run.first
}

// dnsFailingSince returns when the current run of failures of domain's
// _mta-sts lookup began, recording one at now if none is known.
func (r *Resolver) dnsFailingSince(domain string, now time.Time) time.Time {
	if run, ok := r.dnsFailing.Peek(domain); ok {
		return run.first
	}
	return r.noteDNSFailure(domain, now)
}

// dnsWorks ends domain's run of failures: its _mta-sts lookup got an answer.
func (r *Resolver) dnsWorks(domain string) {
	r.dnsFailing.Remove(domain)
}

// temporaryAction returns the action for a delivery to domain whose
// _mta-sts lookup failed temporarily with nothing cached, with its reason
// and, for Defer, when the grace ends (zero for GraceForever).
func (r *Resolver) temporaryAction(domain string, now time.Time) (Action, string, time.Time) {
	grace := r.opts.TemporaryErrorGrace
	switch {
	case r.opts.OnTemporaryError != Defer || grace < 0:
		return DeliverWithoutSTS, ReasonTemporaryDNS, time.Time{}
	case grace == GraceForever:
		return Defer, ReasonTemporaryDNS, time.Time{}
	}
	ends := r.dnsFailingSince(domain, now).Add(grace)
	if now.Before(ends) {
		return Defer, ReasonTemporaryDNS, ends
	}
	return DeliverWithoutSTS, ReasonGraceOver, time.Time{}
}

// fetchPending reports whether a discovery of domain is fetching its
// policy.
func (r *Resolver) fetchPending(domain string) bool {
	_, ok := r.pending.Load(domain)
	return ok
}

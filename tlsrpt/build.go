package tlsrpt

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// maxJSONInt is the largest integer I-JSON carries exactly (RFC 7493).
const maxJSONInt = 1<<53 - 1

// ReportOptions say who sends the reports that [Recorder.Reports] builds.
type ReportOptions struct {
	// OrganizationName is the organization responsible for the reports.
	// Required.
	OrganizationName string
	// ContactInfo is the address of those responsible, an ASCII
	// addr-spec whose domain, in lower-case A-labels, is the submitter
	// named in file names and mail headers ("tlsrpt@mail.example.com").
	// Required.
	ContactInfo string
	// UniqueID, letters and digits only, tells apart the reports of
	// several sending MTAs that share a contact-info domain: it goes into
	// report ids (and, through the Reporter, file names), so that each
	// node's report-id is unique per day. Default: DefaultNodeID of
	// ContactInfo, which differs from host to host.
	UniqueID string
}

func (o ReportOptions) check() error {
	switch {
	case o.OrganizationName == "":
		return fmt.Errorf("tlsrpt: %w: no organization name", ErrBadReport)
	case !validAddrSpec(o.ContactInfo):
		return fmt.Errorf("tlsrpt: %w: contact-info %q is not an ASCII addr-spec with a lower-case domain", ErrBadReport, o.ContactInfo)
	case alnumOnly(o.UniqueID) != o.UniqueID:
		return fmt.Errorf("tlsrpt: %w: unique id %q is not letters and digits", ErrBadReport, o.UniqueID)
	}
	return nil
}

// Reports builds the reports of the UTC day that contains day, one per
// policy domain, sorted by domain, for a day that is over by the
// recorder's clock (else ErrDayNotOver). Building leaves the counts in
// place: call [Recorder.Forget] once the reports are delivered. The same
// counts give the same reports, report ids included (they are
// "<date>.<policy domain>[.<unique id>]@<submitter>"), so that a report
// rebuilt after a restart is recognisably the same one.
func (r *Recorder) Reports(day time.Time, o ReportOptions) ([]*Report, error) {
	return r.build(day, "", o)
}

// Report builds the report of one policy domain (any form) for the UTC
// day that contains day, as Reports does; nil, nil if it has no counts.
func (r *Recorder) Report(day time.Time, domain string, o ReportOptions) (*Report, error) {
	d, ok := canonDomain(domain)
	if !ok {
		return nil, &DomainError{Name: domain}
	}
	reps, err := r.build(day, d, o)
	if err != nil || len(reps) == 0 {
		return nil, err
	}
	return reps[0], nil
}

// build builds the reports of day, for domain only if it is not "".
func (r *Recorder) build(day time.Time, domain string, o ReportOptions) ([]*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.UniqueID == "" {
		o.UniqueID = DefaultNodeID(o.ContactInfo)
	}
	d := dayOf(day)
	if d >= dayOf(r.clock()) {
		return nil, fmt.Errorf("tlsrpt: %s: %w", dayTime(d).Format(time.DateOnly), ErrDayNotOver)
	}
	type section struct {
		key  policyKey
		text string
		pr   PolicyReport
	}
	byDomain := make(map[string][]section)
	r.mu.Lock()
	r.expire(dayOf(r.clock()))
	for k, c := range r.policies {
		if k.day == d && (domain == "" || k.domain == domain) {
			byDomain[k.domain] = append(byDomain[k.domain], section{k, c.text, c.report(k, r.maxGroups)})
		}
	}
	r.mu.Unlock()

	domains := make([]string, 0, len(byDomain))
	for dom := range byDomain {
		domains = append(domains, dom)
	}
	slices.Sort(domains)
	start := dayTime(d)
	submitter := o.ContactInfo[strings.LastIndexByte(o.ContactInfo, '@')+1:]
	reports := make([]*Report, 0, len(domains))
	for _, dom := range domains {
		secs := byDomain[dom]
		slices.SortFunc(secs, func(a, b section) int {
			return cmp.Or(cmp.Compare(a.key.typ, b.key.typ), cmp.Compare(a.text, b.text))
		})
		rep := &Report{
			OrganizationName: o.OrganizationName,
			DateRange:        DateRange{Start: start, End: start.Add(secondsPerDay*time.Second - time.Second)},
			ContactInfo:      o.ContactInfo,
			ReportID:         reportID(start, dom, o.UniqueID, submitter),
			Policies:         make([]PolicyReport, len(secs)),
		}
		for i, s := range secs {
			rep.Policies[i] = s.pr
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

func reportID(day time.Time, domain, unique, submitter string) string {
	var b strings.Builder
	b.WriteString(day.Format(time.DateOnly))
	b.WriteByte('.')
	b.WriteString(domain)
	if unique != "" {
		b.WriteByte('.')
		b.WriteString(unique)
	}
	b.WriteByte('@')
	b.WriteString(submitter)
	return b.String()
}

// report renders the counts of k with at most max failure details; r.mu
// is held.
func (c *counts) report(k policyKey, max int) PolicyReport {
	details, _ := c.details(max)
	return PolicyReport{
		Policy: AppliedPolicy{
			Type:         k.typ,
			PolicyString: append([]string{}, c.lines...),
			Domain:       k.domain,
			MXHost:       append([]string{}, c.mx...),
		},
		Summary:        Summary{TotalSuccessful: jsonInt(c.success), TotalFailure: jsonInt(c.failure)},
		FailureDetails: details,
	}
}

// compareDetails orders failure details as compareKeys orders their keys,
// so that a report lists its groups in one order however they were built.
func compareDetails(a, b FailureDetail) int {
	return compareKeys(keyOfDetail(a), keyOfDetail(b))
}

// keyOfDetail is the failure key of a failure detail.
func keyOfDetail(d FailureDetail) failureKey {
	return failureKey{result: d.ResultType, sending: d.SendingMTAIP, receiving: d.ReceivingIP,
		mx: d.ReceivingMXHostname, helo: d.ReceivingMXHelo, reason: d.FailureReasonCode}
}

func jsonInt(n uint64) int64 {
	return int64(min(n, maxJSONInt))
}

// DefaultNodeID returns the node id that [Recorder.Reports] uses when
// ReportOptions.UniqueID is empty: 10 hex digits of a hash of the host
// name and contact, the same in every run of one configuration on one
// host, different on another host that shares the contact domain.
func DefaultNodeID(contact string) string {
	host, _ := os.Hostname()
	h := sha256.Sum256([]byte(host + "\x00" + contact))
	return hex.EncodeToString(h[:5])
}

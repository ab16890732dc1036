package tlsrpt

import (
	"github.com/mtasts-go/mtasts/internal/txtrec"

	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mtasts-go/mtasts/validate"
)

// PolicyType is the kind of policy a report section is about (RFC 8460
// section 4.4, "policy-type").
type PolicyType string

// The policy types of RFC 8460.
const (
	// PolicySTS: an MTA-STS policy (RFC 8461).
	PolicySTS PolicyType = "sts"
	// PolicyTLSA: DANE TLSA records (RFC 7672).
	PolicyTLSA PolicyType = "tlsa"
	// PolicyNone: no policy was found; "no-policy-found" in reports.
	PolicyNone PolicyType = "no-policy-found"
)

// Valid reports whether t is one of the three policy types of RFC 8460.
func (t PolicyType) Valid() bool {
	return t == PolicySTS || t == PolicyTLSA || t == PolicyNone
}

// Report is an aggregate TLS report (RFC 8460 section 4.4); its JSON
// encoding has the RFC's field names. A report covers one policy domain
// for one UTC day.
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"` // an addr-spec; its domain is the submitter
	ReportID         string         `json:"report-id"`    // of the form x@y
	Policies         []PolicyReport `json:"policies"`
}

// DateRange is the time span a report covers, written in RFC 3339 form.
// Reports built by a [Recorder] cover a whole UTC day, 00:00:00Z to
// 23:59:59Z.
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyReport is the part of a report about one applied policy.
type PolicyReport struct {
	Policy  AppliedPolicy `json:"policy"`
	Summary Summary       `json:"summary"`
	// FailureDetails are the failed sessions in groups; empty (never
	// null) when no session failed, as the schema of RFC 8460 section
	// 4.4 always has the field.
	FailureDetails []FailureDetail `json:"failure-details"`
}

// AppliedPolicy describes a policy that a sender applied.
type AppliedPolicy struct {
	Type PolicyType `json:"policy-type"`
	// PolicyString is the policy, one element per line: the lines of the
	// MTA-STS policy file (without line ends), or one TLSA record per
	// element. Empty (never null) for no-policy-found.
	PolicyString []string `json:"policy-string"`
	// Domain is the policy domain, in A-labels.
	Domain string `json:"policy-domain"`
	// MXHost are the mx patterns of an MTA-STS policy; empty (never null)
	// when there are none.
	MXHost []string `json:"mx-host"`
}

// Summary counts the sessions under one policy.
type Summary struct {
	TotalSuccessful int64 `json:"total-successful-session-count"`
	TotalFailure    int64 `json:"total-failure-session-count"`
}

// FailureDetail counts the failed sessions that share a result type and
// endpoints. Fields that are not known are omitted from the JSON, never
// written as empty strings: a policy fetch failure has no receiving MX.
type FailureDetail struct {
	ResultType          validate.ResultType `json:"result-type"`
	SendingMTAIP        netip.Addr          `json:"sending-mta-ip,omitzero"`
	ReceivingMXHostname string              `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo     string              `json:"receiving-mx-helo,omitempty"`
	ReceivingIP         netip.Addr          `json:"receiving-ip,omitzero"`
	FailedSessionCount  int64               `json:"failed-session-count"`
	// AdditionalInformation is an absolute URI with more about the
	// failure.
	AdditionalInformation string `json:"additional-information,omitempty"`
	FailureReasonCode     string `json:"failure-reason-code,omitempty"`
}

// Errors of report building and checking.
var (
	ErrBadReport  = errors.New("invalid report")
	ErrDayNotOver = errors.New("the day is not over yet")
)

// Domain returns the policy domain of the report, that of its first
// policy, or "" if it has none.
func (r *Report) Domain() string {
	if len(r.Policies) == 0 {
		return ""
	}
	return r.Policies[0].Policy.Domain
}

// Submitter returns the domain of the report's contact-info: the sender
// of the report, named in its file name and TLS-Report-Submitter header
// (RFC 8460 section 5.3: they MUST match).
func (r *Report) Submitter() string {
	i := strings.LastIndexByte(r.ContactInfo, '@')
	if i < 0 {
		return ""
	}
	return r.ContactInfo[i+1:]
}

// Validate reports whether r can be sent: an organization name, a
// contact-info address whose domain is a valid A-label host name, a
// report-id of the form x@y, a date range, and at least one policy, all of
// one valid policy domain and with valid types and result types.
func (r *Report) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("tlsrpt: %w: "+format, append([]any{ErrBadReport}, args...)...)
	}
	switch {
	case r.OrganizationName == "":
		return bad("no organization-name")
	case !validAddrSpec(r.ContactInfo):
		return bad("contact-info %q is not an ASCII addr-spec", r.ContactInfo)
	case !validMsgID(r.ReportID):
		return bad("report-id %q is not of the form x@y", r.ReportID)
	case r.DateRange.Start.IsZero() || r.DateRange.End.Before(r.DateRange.Start):
		return bad("bad date-range")
	case len(r.Policies) == 0:
		return bad("no policies")
	}
	for _, p := range r.Policies {
		if d, ok := canonDomain(p.Policy.Domain); !ok || d != p.Policy.Domain || d != r.Domain() {
			return bad("policy-domain %q", p.Policy.Domain)
		}
		if !p.Policy.Type.Valid() {
			return bad("policy-type %q", p.Policy.Type)
		}
		for _, f := range p.FailureDetails {
			if !f.ResultType.Valid() {
				return bad("result-type %q", f.ResultType)
			}
			if f.AdditionalInformation != "" && !isAbsoluteURI(f.AdditionalInformation) {
				return bad("additional-information %q is not an absolute URI", f.AdditionalInformation)
			}
		}
	}
	return nil
}

// JSON returns the report encoded as I-JSON (RFC 7493), compactly.
func (r *Report) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Gzip returns the JSON report compressed with gzip (RFC 8460 section 5.2).
func (r *Report) Gzip() ([]byte, error) {
	var z gzipper
	return z.gzip(r)
}

// gzipper compresses reports with one gzip.Writer, reset for each: a new
// writer allocates some 800 KB of tables, far more than a report. It is
// safe for concurrent use.
type gzipper struct {
	mu sync.Mutex
	zw *gzip.Writer
}

func (z *gzipper) gzip(r *Report) ([]byte, error) {
	j, err := r.JSON()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.zw == nil {
		z.zw, _ = gzip.NewWriterLevel(&b, gzip.BestSpeed) // reports are small: speed costs little size
	} else {
		z.zw.Reset(&b)
	}
	if _, err := z.zw.Write(j); err != nil {
		return nil, err
	}
	if err := z.zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Filename returns the report's file name per RFC 8460 section 5.1:
// "submitter!policy-domain!begin!end[!unique].json.gz" (".json" when
// compressed is false), the timestamps being the date range in Unix
// seconds. unique, if not empty, must be letters and digits only; other
// characters are dropped.
func (r *Report) Filename(unique string, compressed bool) string {
	b := make([]byte, 0, 96)
	b = append(b, r.Submitter()...)
	b = append(b, '!')
	b = append(b, r.Domain()...)
	b = append(b, '!')
	b = strconv.AppendInt(b, r.DateRange.Start.Unix(), 10)
	b = append(b, '!')
	b = strconv.AppendInt(b, r.DateRange.End.Unix(), 10)
	if u := alnumOnly(unique); u != "" {
		b = append(b, '!')
		b = append(b, u...)
	}
	if compressed {
		b = append(b, ".json.gz"...)
	} else {
		b = append(b, ".json"...)
	}
	return string(b)
}

func alnumOnly(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if txtrec.IsAlphaNum(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// isAtext reports whether c is an atext character of RFC 5322.
func isAtext(c byte) bool {
	return txtrec.IsAlphaNum(c) || c < 0x80 && strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isDotAtom reports whether s is a dot-atom-text of RFC 5322.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			if s[i-1] == '.' {
				return false
			}
		} else if !isAtext(s[i]) {
			return false
		}
	}
	return true
}

// validAddrSpec reports whether s is local@domain with a dot-atom local
// part and a lower-case A-label domain.
func validAddrSpec(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return false
	}
	d, ok := canonDomain(s[at+1:])
	return ok && d == s[at+1:] && isDotAtom(s[:at])
}

// validMsgID reports whether s is id-left "@" id-right with both sides
// dot-atom-text, so that it can appear in the Subject as <s>.
func validMsgID(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && isDotAtom(s[:at]) && isDotAtom(s[at+1:])
}

// maxInfo bounds an additional-information URI; a longer one is left out
// rather than cut.
const maxInfo = 1024

// isAbsoluteURI reports whether s is an absolute URI of RFC 3986
// (scheme ":" and characters that a URI may hold, "%" only before two hex
// digits) of at most maxInfo bytes.
func isAbsoluteURI(s string) bool {
	if len(s) > maxInfo {
		return false
	}
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || colon == len(s)-1 || !txtrec.IsAlpha(s[0]) {
		return false
	}
	for i := 1; i < colon; i++ {
		if c := s[i]; !txtrec.IsAlphaNum(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	for i := colon + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
		case c == ',' || c == '!' || c == ';':
			// sub-delims that RFC 3986 allows and isURIChar refuses
		case !isURIChar(c):
			return false
		}
	}
	return true
}

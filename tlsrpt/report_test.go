package tlsrpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/reporttest"
)

// TestRFCExample decodes the example of RFC 8460 Appendix B (with mx-host
// an array, erratum 6241, and its additional-information URI unbroken)
// strictly into a Report, and checks that encoding gives the same JSON
// back, but for the IPv6 addresses, which come out in RFC 5952 form.
func TestRFCExample(t *testing.T) {
	raw := loadJSON[json.RawMessage](t, "rfc8460-example.json")
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err == nil || !errors.Is(err, ErrBadReport) {
		t.Errorf("the RFC's report-id has no @, Validate: %v", err)
	}
	out, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	json.Unmarshal(raw, &want)
	json.Unmarshal(out, &got)
	details := want["policies"].([]any)[0].(map[string]any)["failure-details"].([]any)
	details[0].(map[string]any)["sending-mta-ip"] = "2001:db8:abcd:12::1"
	details[1].(map[string]any)["sending-mta-ip"] = "2001:db8:abcd:13::1"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n%s", out)
	}
	if !strings.Contains(string(out), `"total-successful-session-count":5326`) {
		t.Errorf("counts are not JSON numbers: %s", out) // T69.3
	}
}

func TestFilename(t *testing.T) {
	r := &Report{
		ContactInfo: "tlsrpt@mail.sndr.example.com",
		DateRange:   DateRange{Start: time.Unix(1470013207, 0).UTC(), End: time.Unix(1470186007, 0).UTC()},
		Policies:    []PolicyReport{{Policy: AppliedPolicy{Domain: "example.net"}}},
	}
	for _, tc := range []struct {
		unique string
		gz     bool
		want   string
	}{
		{"001", true, "mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz"},      // T76.1
		{"", false, "mail.sndr.example.com!example.net!1470013207!1470186007.json"},               // T76.2
		{"a-b_c.1", true, "mail.sndr.example.com!example.net!1470013207!1470186007!abc1.json.gz"}, // T76.4
	} {
		if got := r.Filename(tc.unique, tc.gz); got != tc.want {
			t.Errorf("Filename(%q, %v) = %q, want %q", tc.unique, tc.gz, got, tc.want)
		}
	}
}

func TestGzip(t *testing.T) {
	r := sampleReport()
	z, err := r.Gzip()
	if err != nil {
		t.Fatal(err)
	}
	if z[0] != 0x1f || z[1] != 0x8b { // T77.1
		t.Fatalf("no gzip magic: % x", z[:2])
	}
	plain := reporttest.Gunzip(t, z)
	j, _ := r.JSON()
	if !bytes.Equal(plain, j) {
		t.Errorf("gzip holds %s, want %s", plain, j)
	}
}

func TestValidate(t *testing.T) {
	if err := sampleReport().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Report){
		"no_org":          func(r *Report) { r.OrganizationName = "" },
		"contact_no_at":   func(r *Report) { r.ContactInfo = "tlsrpt" },
		"contact_upper":   func(r *Report) { r.ContactInfo = "tlsrpt@Mail.example" },
		"contact_ulabel":  func(r *Report) { r.ContactInfo = "tlsrpt@bücher.example" },
		"id_no_at":        func(r *Report) { r.ReportID = "abc" },
		"id_space":        func(r *Report) { r.ReportID = "a b@c" },
		"no_policies":     func(r *Report) { r.Policies = nil },
		"domain_ulabel":   func(r *Report) { r.Policies[0].Policy.Domain = "bücher.example" },
		"bad_type":        func(r *Report) { r.Policies[0].Policy.Type = "dane" },
		"bad_result_type": func(r *Report) { r.Policies[0].FailureDetails[0].ResultType = "oops" },
		"no_dates":        func(r *Report) { r.DateRange = DateRange{} },
	} {
		t.Run(name, func(t *testing.T) {
			r := sampleReport()
			mod(r)
			if err := r.Validate(); !errors.Is(err, ErrBadReport) {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// sampleReport is a valid one-policy report.
func sampleReport() *Report {
	start := time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)
	return &Report{
		OrganizationName: "Company-X",
		DateRange:        DateRange{Start: start, End: start.Add(24*time.Hour - time.Second)},
		ContactInfo:      "tlsrpt@mail.company-x.example",
		ReportID:         "2016-04-01.company-y.example@mail.company-x.example",
		Policies: []PolicyReport{{
			Policy:         AppliedPolicy{Type: PolicySTS, PolicyString: []string{"version: STSv1"}, Domain: "company-y.example", MXHost: []string{"*.mail.company-y.example"}},
			Summary:        Summary{TotalSuccessful: 1, TotalFailure: 1},
			FailureDetails: []FailureDetail{{ResultType: "certificate-expired", FailedSessionCount: 1}},
		}},
	}
}

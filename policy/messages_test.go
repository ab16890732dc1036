package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestErrorsNameTheMistake: the common mistakes of published policies
// (trailing blank lines, "mode: enforced", a trailing dot, comments, a
// stray CR) are each reported as what they are, quoting the bad value,
// truncated.
func TestErrorsNameTheMistake(t *testing.T) {
	const head = "version: STSv1\nmode: enforce\nmx: mx.example.com\n"
	for _, tc := range []struct {
		name, body, want string
		is               error
	}{
		{"mode_enforced", "version: STSv1\nmode: enforced\n", `policy: line 2: "mode": "enforced": mode must be enforce, testing or none`, ErrBadMode},
		{"trailing_blank_line", head + "max_age: 86400\n\n", `policy: line 5: empty line: a policy file has none, not even at its end`, ErrEmptyLine},
		{"blank_line_crlf", head + "\r\nmax_age: 86400\r\n", `policy: line 4: empty line: a policy file has none, not even at its end`, ErrEmptyLine},
		{"white_space_line", head + " \t\nmax_age: 86400\n", `policy: line 4: empty line: a policy file has none, not even at its end`, ErrEmptyLine},
		{"stray_cr_at_end", head + "max_age: 86400\r", `policy: line 4: carriage return without a line feed`, ErrStrayCR},
		{"cr_cr_lf", head + "max_age: 86400\r\r\n", `policy: line 4: carriage return without a line feed`, ErrStrayCR},
		{"mx_trailing_dot", "version: STSv1\nmode: enforce\nmx: mx.example.com.\n", `policy: line 3: "mx": "mx.example.com.": mx must be a domain name or *. and a domain name, in A-label form`, ErrBadMX},
		{"comment", "# policy\n" + head, `policy: line 1: "# policy": malformed line`, ErrBadLine},
		{"yaml_list", "version: STSv1\nmode: enforce\nmx:\n  - mx.example.com\n", `policy: line 3: "mx": "": mx must be a domain name or *. and a domain name, in A-label form`, ErrBadMX},
		{"max_age_bad", head + "max_age: 1w\n", `policy: line 4: "max_age": "1w": max_age must be 1 to 10 decimal digits`, ErrBadMaxAge},
		{"version_bad", "version: STSv2\n", `policy: line 1: "version": "STSv2": version must be STSv1`, ErrBadVersion},
		{"long_value_truncated", "version: STSv1\nmode: " + strings.Repeat("x", 500) + "\n", `policy: line 2: "mode": "` + strings.Repeat("x", 64) + `...": mode must be enforce, testing or none`, ErrBadMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.body))
			if err == nil || err.Error() != tc.want || !errors.Is(err, tc.is) {
				t.Errorf("Parse error = %v\nwant %s", err, tc.want)
			}
		})
	}
	// The line-level errors are malformed lines too, for errors.Is.
	for _, e := range []error{ErrEmptyLine, ErrStrayCR} {
		if !errors.Is(e, ErrBadLine) {
			t.Errorf("%v does not wrap ErrBadLine", e)
		}
	}
}

// TestRecordErrorsNameTheRecord: errors in the _mta-sts TXT record say so,
// not "policy:", and quote the bad value.
func TestRecordErrorsNameTheRecord(t *testing.T) {
	for s, want := range map[string]string{
		"v=STSv1; id=a-b":           `_mta-sts record: "id": "a-b": id must be 1 to 32 letters or digits`,
		"v=STSv1; id=a; x=":         `_mta-sts record: "x": "": malformed extension`,
		"v=STSv1; id=a b":           `_mta-sts record: "b": malformed STSv1 record`,
		"v=STSv1; ext=1":            `_mta-sts record: "id": missing id`,
		"v=STSv1; id=a; x=\xc3\xa9": `_mta-sts record: record is not US-ASCII`,
	} {
		_, err := ParseRecord(s)
		if err == nil || err.Error() != want {
			t.Errorf("ParseRecord(%q) = %v\nwant %s", s, err, want)
		}
	}
}

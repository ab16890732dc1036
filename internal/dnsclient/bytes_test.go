package dnsclient

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestTXTBytesAsPublished: TXT returns each record's character-strings as
// the bytes published, joined, never in a DNS library's presentation format
// (\DDD, \", \\), over UDP and over TCP.
func TestTXTBytesAsPublished(t *testing.T) {
	w := testserver.Start(t)
	c := New([]string{w.DNSAddr()}, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s255 := "v=STSv1; id=" + strings.Repeat("a", 255-len("v=STSv1; id="))
	for _, tc := range []struct {
		name    string
		records [][]string
		want    []string
	}{
		{"tab", [][]string{{"v=STSv1;\tid=x"}}, []string{"v=STSv1;\tid=x"}},
		{"tab_before_delimiter", [][]string{{"v=STSv1\t; id=x"}}, []string{"v=STSv1\t; id=x"}},
		{"quote", [][]string{{`v=STSv1; id=x; e="`}}, []string{`v=STSv1; id=x; e="`}},
		{"backslash", [][]string{{`x=\`}}, []string{`x=\`}},
		{"backslash_digits", [][]string{{`\065\\\`}}, []string{`\065\\\`}},
		{"del", [][]string{{"v=STSv1; id=a; x=\x7f"}}, []string{"v=STSv1; id=a; x=\x7f"}},
		{"ff", [][]string{{"v=STSv1; id=a\xff"}}, []string{"v=STSv1; id=a\xff"}},
		{"e_acute", [][]string{{"v=STSv1; id=a; x=é"}}, []string{"v=STSv1; id=a; x=é"}},
		{"nul", [][]string{{"a\x00b"}}, []string{"a\x00b"}},
		{"split", [][]string{{"v=STSv1; ", "id=abc"}}, []string{"v=STSv1; id=abc"}},
		{"split_mid_token", [][]string{{"v=ST", "Sv1;\ti", "d=a", "bc"}}, []string{"v=STSv1;\tid=abc"}},
		{"split_escape", [][]string{{`a\`, `065`}}, []string{`a\065`}},
		{"string_255", [][]string{{s255}}, []string{s255}},
		{"string_255_then_more", [][]string{{s255, "\t"}}, []string{s255 + "\t"}},
		{"several_one_tabbed", [][]string{{"v=spf1 -all"}, {"v=STSv1;\tid=2"}, {"x"}}, []string{"v=spf1 -all", "v=STSv1;\tid=2", "x"}},
		{"empty_string", [][]string{{""}}, []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.name + ".bytes.test"
			w.SetTXTStrings(name, tc.records...)
			for _, force := range []bool{false, true} {
				if force {
					w.Fault(name, testserver.Truncate) // the answer comes over TCP
				}
				got, err := c.TXT(ctx, name)
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tc.want))
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("tcp %v: TXT = %q, %v; want %q", force, got, err, want)
				}
			}
		})
	}
}

// TestMXNameWithDotInLabel: a label holding a dot (mx\.evil.example in
// presentation format) can be no host name; read as text it would name
// another host. MX skips it and says so, as net.LookupMX does, and returns
// the usable records.
func TestMXNameWithDotInLabel(t *testing.T) {
	w := testserver.Start(t)
	if err := w.AddRecords(`
evil.test. MX 10 mx\.evil.example.
evil.test. MX 20 mx2.evil.test.
onlyevil.test. MX 10 mx\.evil.example.
space.test. MX 10 mx\032x.space.test.
`); err != nil {
		t.Fatal(err)
	}
	c := New([]string{w.DNSAddr()}, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mxs, err := c.MX(ctx, "evil.test")
	var de *Error
	if !errors.As(err, &de) || de.Temporary || !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), `mx\\.evil.example`) {
		t.Errorf("MX error = %v; want a *Error wrapping ErrBadName that quotes the name", err)
	}
	if len(mxs) != 1 || mxs[0] != (MX{"mx2.evil.test", 20}) {
		t.Errorf("MX = %q; want only mx2.evil.test", mxs)
	}
	for _, d := range []string{"onlyevil.test", "space.test"} {
		mxs, err = c.MX(ctx, d)
		if len(mxs) != 0 || !errors.Is(err, ErrBadName) {
			t.Errorf("MX(%s) = %q, %v; want none and ErrBadName", d, mxs, err)
		}
	}
}

// FuzzRawTXT: whatever bytes a character-string holds on the wire, miekg's
// reading of it followed by rawTXT gives them back. The wire form is built
// by hand, so that the test does not share miekg's encoder.
func FuzzRawTXT(f *testing.F) {
	for _, s := range []string{"v=STSv1; id=20160831085700Z;", "v=STSv1;\tid=x", `\065\\"`, "\x00\xff\x7f é", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 255 {
			b = b[:255]
		}
		wire := []byte{0, 0, 16, 0, 1, 0, 0, 0, 60, byte((len(b) + 1) >> 8), byte(len(b) + 1), byte(len(b))}
		wire = append(wire, b...)
		rr, _, err := dns.UnpackRR(wire, 0)
		if err != nil {
			t.Fatal(err)
		}
		txt := rr.(*dns.TXT).Txt
		if len(txt) != 1 || rawTXT(txt[0]) != string(b) {
			t.Fatalf("rawTXT(%q) = %q, want %q", txt, rawTXT(txt[0]), b)
		}
	})
}

package dnsclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

// TestRecordParsersSeePublishedBytes: the MTA-STS and TLS-RPT parsers get
// the records through the DNS client as published: a tab (legal white
// space) is accepted, a non-ASCII or control byte rejected.
func TestRecordParsersSeePublishedBytes(t *testing.T) {
	w := testserver.Start(t)
	c := dnsclient.New([]string{w.DNSAddr()}, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name    string
		records [][]string
		id      string
		err     error
	}{
		{"tab_accepted", [][]string{{"v=STSv1;\tid=x1"}}, "x1", nil},
		{"tab_before_delimiter", [][]string{{"v=STSv1\t; id=x2"}}, "x2", nil},
		{"tab_mid_token_split", [][]string{{"v=STSv1;", "\ti", "d=x3"}}, "x3", nil},
		{"one_of_several_tabbed", [][]string{{"v=spf1 -all"}, {"v=STSv1;\tid=x4"}}, "x4", nil},
		{"e_acute_rejected", [][]string{{"v=STSv1; id=a; x=é"}}, "", policy.ErrNotASCII},
		{"del_rejected", [][]string{{"v=STSv1; id=a; x=\x7f"}}, "", policy.ErrBadExtension},
		{"ff_rejected", [][]string{{"v=STSv1; id=a\xff"}}, "", policy.ErrNotASCII},
		{"quote_rejected", [][]string{{`v=STSv1; id=a"`}}, "", policy.ErrBadID},
		{"backslash_value", [][]string{{`v=STSv1; id=a5; x=\`}}, "a5", nil}, // a legal sts-ext-value byte
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "_mta-sts." + tc.name + ".test"
			w.SetTXTStrings(name, tc.records...)
			txts, err := c.TXT(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := policy.ParseTXT(txts)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("ParseTXT(%q) = %+v, %v; want %v", txts, rec, err, tc.err)
				}
				return
			}
			if err != nil || tc.id != "" && rec.ID != tc.id {
				t.Fatalf("ParseTXT(%q) = %+v, %v; want id %q", txts, rec, err, tc.id)
			}
		})
	}
	t.Run("tlsrpt_tab", func(t *testing.T) {
		w.SetTXTStrings("_smtp._tls.rpt.test", []string{"v=TLSRPTv1;\trua=mailto:r@rpt.test"})
		rec, err := tlsrpt.Lookup(ctx, c, "rpt.test")
		if err != nil || len(rec.RUA) != 1 {
			t.Fatalf("tlsrpt.Lookup = %+v, %v", rec, err)
		}
	})
	t.Run("tlsrpt_non_ascii", func(t *testing.T) {
		w.SetTXTStrings("_smtp._tls.rpt2.test", []string{"v=TLSRPTv1; rua=mailto:r@rpt2.test; x=\xff"})
		if rec, err := tlsrpt.Lookup(ctx, c, "rpt2.test"); err == nil {
			t.Fatalf("tlsrpt.Lookup accepted a 0xFF byte: %+v", rec)
		}
	})
}

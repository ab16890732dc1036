package resolver

import (
	"context"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestRecordBytesAsPublished: the _mta-sts record reaches the parser as
// the bytes published. An enforce domain whose record holds a tab keeps its
// policy (a silent downgrade otherwise); a record that is not US-ASCII is
// no record, however a DNS library would have escaped it.
func TestRecordBytesAsPublished(t *testing.T) {
	w, r := newTest(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		records [][]string
		action  Action
	}{
		{"tab_after_delimiter", [][]string{{"v=STSv1;\tid=t1"}}, Refuse},
		{"tab_before_delimiter", [][]string{{"v=STSv1\t;id=t2"}}, Refuse},
		{"split_mid_token", [][]string{{"v=STS", "v1;\ti", "d=t3"}}, Refuse},
		{"second_record_tabbed", [][]string{{"v=spf1 -all"}, {"v=STSv1;\tid=t4"}}, Refuse},
		{"e_acute", [][]string{{"v=STSv1; id=t5; x=é"}}, DeliverWithoutSTS},
		{"del", [][]string{{"v=STSv1; id=t6; x=\x7f"}}, DeliverWithoutSTS},
		{"bare_version_beside_record", [][]string{{"v=STSv1"}, {"v=STSv1; id=t9"}}, Refuse},
		{"two_records_one_tabbed", [][]string{{"v=STSv1; id=t7"}, {"v=STSv1;\tid=t8"}}, DeliverWithoutSTS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := strings.ReplaceAll(tc.name, "_", "-") + ".test"
			w.AddDomain(d, testserver.Policy{Mode: "enforce", MX: []string{"mx." + d}, MaxAge: 86400})
			w.SetTXTStrings("_mta-sts."+d, tc.records...)
			dec, err := r.Check(ctx, d, "evil.example")
			if err != nil || dec.Action != tc.action {
				t.Fatalf("Check = %+v, %v; want %v", dec, err, tc.action)
			}
		})
	}
}

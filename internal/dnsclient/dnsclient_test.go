package dnsclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLookups(t *testing.T) {
	w := testserver.Start(t)
	w.SetMX("example.test", "mx1.example.test", "mx2.example.test")
	w.SetTXT("_smtp._tls.example.test", "v=TLSRPTv1; rua=mailto:r@example.test")
	w.SetCNAME("alias.example.test", "example.test")
	w.SetCNAME("loop1.example.test", "loop2.example.test")
	w.SetCNAME("loop2.example.test", "loop1.example.test")
	w.Fault("_mta-sts.broken.test", testserver.ServFail)
	c := New([]string{w.DNSAddr()}, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, name := range []string{"example.test", "ALIAS.example.test."} {
		mxs, err := c.MX(ctx, name)
		if err != nil || len(mxs) != 2 || mxs[0] != (MX{"mx1.example.test", 10}) || mxs[1].Host != "mx2.example.test" {
			t.Errorf("MX(%s) = %v, %v", name, mxs, err)
		}
	}
	if txt, err := c.TXT(ctx, "_smtp._tls.example.test"); err != nil || len(txt) != 1 || txt[0] != "v=TLSRPTv1; rua=mailto:r@example.test" {
		t.Errorf("TXT = %q, %v", txt, err)
	}
	if mxs, err := c.MX(ctx, "nowhere.test"); err != nil || len(mxs) != 0 {
		t.Errorf("MX of a missing name = %v, %v", mxs, err)
	}
	var de *Error
	if _, err := c.TXT(ctx, "_mta-sts.broken.test"); !errors.As(err, &de) || !de.Temporary || !errors.Is(err, ErrServFail) {
		t.Errorf("TXT of a SERVFAIL name = %v", err)
	}
	if _, err := c.MX(ctx, "loop1.example.test"); !errors.As(err, &de) || de.Temporary {
		t.Errorf("MX through a CNAME loop = %v", err)
	}
}

func TestParseServers(t *testing.T) {
	got := ParseServers("127.0.0.1, [::1]:5353,,192.0.2.1:53")
	want := []string{"127.0.0.1:53", "[::1]:5353", "192.0.2.1:53"}
	if len(got) != len(want) {
		t.Fatalf("ParseServers = %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ParseServers = %q, want %q", got, want)
		}
	}
}

// TestReferralIsTemporary: an empty NOERROR answer from a server that is
// neither authoritative nor recursive for the name (a referral, a lame
// delegation) says nothing of the records: a temporary failure, never
// NODATA.
func TestReferralIsTemporary(t *testing.T) {
	w := testserver.Start(t)
	w.SetTXT("_mta-sts.example.test", "v=STSv1; id=1")
	c := New([]string{w.DNSAddr()}, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, f := range []testserver.DNSFault{testserver.Referral, testserver.Lame} {
		w.Fault("_mta-sts.example.test", f)
		txt, err := c.TXT(ctx, "_mta-sts.example.test")
		var de *Error
		if !errors.As(err, &de) || !de.Temporary || !errors.Is(err, ErrNotRecursive) {
			t.Errorf("%v: TXT = %q, %v; want a temporary *Error wrapping ErrNotRecursive", f, txt, err)
		}
	}
	w.Fault("_mta-sts.example.test", testserver.NoData) // authoritative: a real NODATA
	if txt, err := c.TXT(ctx, "_mta-sts.example.test"); err != nil || len(txt) != 0 {
		t.Errorf("NoData: TXT = %q, %v", txt, err)
	}
}

package interop

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

// The addresses of the DNS tests.
const (
	dnsTestNSD     = "127.0.53.1"
	dnsTestUnbound = "127.0.53.2"
	dnsTestLame    = "127.0.53.3"
)

// stsCase is a domain of the test zone and what its _mta-sts record gives.
type stsCase struct {
	name      string
	domain    string
	raw       []string          // the TXT strings as published (any order); nil: not checked
	id        string            // the record's id, when the domain has a usable record
	ext       *policy.Extension // an extension the record must carry
	err       error             // else what policy.ParseTXT returns
	temporary bool              // else: the lookup fails temporarily
}

var stsCases = []stsCase{
	{name: "tab between fields", domain: "tab.test", raw: []string{"v=STSv1;\tid=tab1"}, id: "tab1"},
	{name: "tab before the delimiter", domain: "tabbefore.test", raw: []string{"v=STSv1\t; id=tabbefore1"}, id: "tabbefore1"},
	{name: "quote in an extension", domain: "quote.test", raw: []string{`v=STSv1; id=quote1; ext=a"b`}, id: "quote1",
		ext: &policy.Extension{Key: "ext", Value: `a"b`}},
	{name: "backslash in an extension", domain: "backslash.test", raw: []string{`v=STSv1; id=backslash1; ext=a\b`}, id: "backslash1",
		ext: &policy.Extension{Key: "ext", Value: `a\b`}},
	{name: "DEL byte is invalid", domain: "del.test", raw: []string{"v=STSv1; id=del1; ext=a\x7fb"}, err: policy.ErrBadExtension},
	{name: "UTF-8 is not US-ASCII", domain: "utf8.test", raw: []string{"v=STSv1; id=utf1; ext=caf\xc3\xa9"}, err: policy.ErrNotASCII},
	{name: "byte 0xFF is not US-ASCII", domain: "ff.test", raw: []string{"v=STSv1; id=ff1; ext=\xff"}, err: policy.ErrNotASCII},
	{name: "several strings", domain: "split.test", raw: []string{"v=STSv1; id=split1"}, id: "split1"},
	{name: "several strings split mid-token", domain: "midtoken.test", raw: []string{"v=STSv1; id=midtoken1"}, id: "midtoken1"},
	{name: "255-byte string", domain: "long.test", raw: []string{longSTS}, id: "long1",
		ext: &policy.Extension{Key: "ext", Value: longSTS[len("v=STSv1; id=long1; ext="):]}},
	{name: "SPF and others beside", domain: "several.test",
		raw: []string{"v=spf1 -all", "v=STSv1; id=several1", "google-site-verification=abc123"}, id: "several1"},
	{name: "bare version beside a record", domain: "bare.test", raw: []string{"v=STSv1", "v=STSv1; id=bare1"}, id: "bare1"},
	{name: "two records one tabbed", domain: "twotab.test", raw: []string{"v=STSv1; id=one1", "v=STSv1\t; id=two1"},
		err: policy.ErrMultipleRecords},
	{name: "CNAME in the zone", domain: "cname-in.test", raw: []string{"v=STSv1; id=target1"}, id: "target1"},
	{name: "CNAME to another zone", domain: "cname-out.test", raw: []string{"v=STSv1; id=elsewhere1"}, id: "elsewhere1"},
	{name: "CNAME to a lame delegation", domain: "cname-lame.test", temporary: true},
	{name: "CNAME to a name that does not exist", domain: "cname-nx.test", raw: []string{}, err: policy.ErrNoRecord},
	{name: "NXDOMAIN", domain: "absent.test", raw: []string{}, err: policy.ErrNoRecord},
	{name: "NODATA", domain: "nodata.test", raw: []string{}, err: policy.ErrNoRecord},
	{name: "lame delegation", domain: "lame.test", temporary: true},
	{name: "RRset over 1232 bytes", domain: "big.test", raw: append([]string{"v=STSv1; id=big1"}, bigFiller()...), id: "big1"},
}

// rptCase is a domain of the test zone and what its _smtp._tls record
// gives through tlsrpt.Lookup (and so tlsrpt.ParseTXT).
type rptCase struct {
	name      string
	domain    string
	raw       []string
	rua       string // the first report URI, when the record is usable
	ext       *tlsrpt.Extension
	err       error
	temporary bool
}

var rptCases = []rptCase{
	{name: "tab between fields", domain: "tab.test", raw: []string{"v=TLSRPTv1;\trua=mailto:r@tab.test"}, rua: "mailto:r@tab.test"},
	{name: "tab before the delimiter", domain: "tabbefore.test", raw: []string{"v=TLSRPTv1\t; rua=mailto:r@tabbefore.test"},
		rua: "mailto:r@tabbefore.test"},
	{name: "quote in an extension", domain: "quote.test", rua: "mailto:r@quote.test", ext: &tlsrpt.Extension{Key: "ext", Value: `a"b`}},
	{name: "backslash in an extension", domain: "backslash.test", rua: "mailto:r@backslash.test",
		ext: &tlsrpt.Extension{Key: "ext", Value: `a\b`}},
	{name: "DEL byte is invalid", domain: "del.test", err: tlsrpt.ErrBadExtension},
	{name: "UTF-8 is not US-ASCII", domain: "utf8.test", err: tlsrpt.ErrNotASCII},
	{name: "byte 0xFF is not US-ASCII", domain: "ff.test", err: tlsrpt.ErrNotASCII},
	{name: "several strings", domain: "split.test", rua: "mailto:r@split.test"},
	{name: "several strings split mid-token", domain: "midtoken.test", rua: "mailto:r@midtoken.test"},
	{name: "255-byte string", domain: "long.test", raw: []string{longRPT}, rua: "mailto:r@long.test"},
	{name: "SPF beside", domain: "several.test", rua: "mailto:r@several.test"},
	{name: "bare version beside a record", domain: "bare.test", rua: "mailto:r@bare.test"},
	{name: "two records one tabbed", domain: "twotab.test", err: tlsrpt.ErrMultipleRecords},
	{name: "CNAME in the zone", domain: "cname-in.test", rua: "mailto:r@target.test"},
	{name: "CNAME to another zone", domain: "cname-out.test", rua: "mailto:r@policy.example"},
	{name: "CNAME to a lame delegation", domain: "cname-lame.test", temporary: true},
	{name: "CNAME to a name that does not exist", domain: "cname-nx.test", err: tlsrpt.ErrNoRecord},
	{name: "NXDOMAIN", domain: "absent.test", err: tlsrpt.ErrNoRecord},
	{name: "NODATA", domain: "nodata.test", err: tlsrpt.ErrNoRecord},
	{name: "lame delegation", domain: "lame.test", temporary: true},
	{name: "RRset over 1232 bytes", domain: "big.test", rua: "mailto:r@big.test"},
}

// TestDNS asks Unbound, recursive in front of NSD, for the records of
// MTA-STS and TLS-RPT, as an MTA asks its local resolver.
func TestDNS(t *testing.T) {
	w := startDNS(t, dnsTestNSD, dnsTestLame, dnsTestUnbound, 0, testZone(dnsTestNSD, dnsTestLame, ""), exampleZone())
	t.Run("servers", func(t *testing.T) { testDNSServers(t, w) })
	client := dnsclient.New([]string{w.unbound}, 5*time.Second)

	t.Run("mta-sts", func(t *testing.T) {
		r := newDNSResolver(t, w.unbound)
		for _, c := range stsCases {
			t.Run(c.name, func(t *testing.T) { checkSTS(t, client, r, c) })
		}
	})
	t.Run("tlsrpt", func(t *testing.T) {
		for _, c := range rptCases {
			t.Run(c.name, func(t *testing.T) { checkRPT(t, client, c) })
		}
	})
	// A referral (NOERROR, no answer, NS records in the authority section)
	// from a server that is not recursive for the name says nothing about
	// the name: it is a temporary failure, not "no policy" (never read it
	// as NODATA).
	t.Run("referral from the authoritative server", func(t *testing.T) {
		nsd := dnsclient.New([]string{w.nsd}, 5*time.Second)
		r := newDNSResolver(t, w.nsd)
		t.Run("mta-sts", func(t *testing.T) {
			checkSTS(t, nsd, r, stsCase{domain: "lame.test", temporary: true})
		})
		t.Run("tlsrpt", func(t *testing.T) {
			checkRPT(t, nsd, rptCase{domain: "lame.test", temporary: true})
		})
		// NSD answers the CNAME alone; its target, asked next, is below
		// the cut.
		t.Run("mta-sts through a CNAME", func(t *testing.T) {
			checkSTS(t, nsd, r, stsCase{domain: "cname-lame.test", temporary: true})
		})
		t.Run("tlsrpt through a CNAME", func(t *testing.T) {
			checkRPT(t, nsd, rptCase{domain: "cname-lame.test", temporary: true})
		})
		// What is not below a cut NSD answers with authority.
		t.Run("a record in the zone", func(t *testing.T) {
			checkSTS(t, nsd, r, stsCase{domain: "split.test", raw: []string{"v=STSv1; id=split1"}, id: "split1"})
		})
	})
	if t.Failed() {
		t.Log(w.logs())
	}
}

// newDNSResolver returns a resolver asking server, whose policy fetches
// fail at once (no policy host has an address): a Lookup tells the record
// found by its id.
func newDNSResolver(t *testing.T, server string) *resolver.Resolver {
	t.Helper()
	r, err := resolver.New(resolver.Options{DNS: []string{server}, FetchTimeout: 10 * time.Second, NoPolicyTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// checkSTS checks what the project's DNS client, the record parser and the
// resolver make of c.domain's _mta-sts record.
func checkSTS(t *testing.T, client *dnsclient.Client, r *resolver.Resolver, c stsCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	txts, err := client.TXT(ctx, "_mta-sts."+c.domain)
	var de *dnsclient.Error
	switch {
	case c.temporary:
		if !errors.As(err, &de) || !de.Temporary {
			t.Errorf("TXT lookup: got %q, %v; want a temporary *dnsclient.Error", txts, err)
		}
	case err != nil:
		t.Fatalf("TXT lookup: %v", err)
	default:
		if c.raw != nil && !sameStrings(txts, c.raw) {
			t.Errorf("TXT strings:\n got %q\nwant %q (the bytes as published)", txts, c.raw)
		}
		rec, err := policy.ParseTXT(txts)
		switch {
		case c.id != "" && err != nil:
			t.Errorf("policy.ParseTXT: %v; want id %q", err, c.id)
		case c.id != "" && rec.ID != c.id:
			t.Errorf("policy.ParseTXT: id %q; want %q", rec.ID, c.id)
		case c.id == "" && !errors.Is(err, c.err):
			t.Errorf("policy.ParseTXT: %+v, %v; want %v", rec, err, c.err)
		case c.ext != nil && !slices.Contains(rec.Extensions, *c.ext):
			t.Errorf("policy.ParseTXT: extensions %q; want %q among them", rec.Extensions, *c.ext)
		}
	}

	// The resolver: a record found (its fetch then fails: no policy host),
	// no policy, or a temporary failure that defers delivery.
	e, err := r.Lookup(ctx, c.domain)
	var fe *resolver.FetchError
	switch {
	case c.temporary:
		if e != nil || !errors.As(err, &de) || !de.Temporary {
			t.Errorf("resolver.Lookup: got %+v, %v; want a temporary *resolver.DNSError", e, err)
		}
		d, err := r.Check(ctx, c.domain, "mx1."+c.domain)
		if d.Action != resolver.Defer {
			t.Errorf("resolver.Check: %v (%v); want defer", d.Action, err)
		}
	case c.id != "":
		if e == nil || e.ID != c.id || !errors.As(err, &fe) {
			t.Errorf("resolver.Lookup: got %+v, %v; want the record %q found (and its fetch failed)", e, err, c.id)
		}
	default:
		if e != nil || err != nil {
			t.Errorf("resolver.Lookup: got %+v, %v; want no policy", e, err)
		}
	}
}

// checkRPT checks what tlsrpt.Lookup makes of c.domain's _smtp._tls record
// through the project's DNS client.
func checkRPT(t *testing.T, client *dnsclient.Client, c rptCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if c.raw != nil {
		txts, err := client.TXT(ctx, "_smtp._tls."+c.domain)
		if err != nil || !sameStrings(txts, c.raw) {
			t.Errorf("TXT strings:\n got %q, %v\nwant %q (the bytes as published)", txts, err, c.raw)
		}
	}
	rec, err := tlsrpt.Lookup(ctx, client, c.domain)
	var de *dnsclient.Error
	switch {
	case c.temporary:
		if !errors.As(err, &de) || !de.Temporary {
			t.Errorf("tlsrpt.Lookup: got %+v, %v; want a temporary *dnsclient.Error", rec, err)
		}
	case c.rua != "":
		if err != nil || len(rec.RUA) == 0 || rec.RUA[0] != c.rua {
			t.Errorf("tlsrpt.Lookup: got %+v, %v; want rua %q", rec, err, c.rua)
		} else if c.ext != nil && !slices.Contains(rec.Extensions, *c.ext) {
			t.Errorf("tlsrpt.Lookup: extensions %q; want %q among them", rec.Extensions, *c.ext)
		}
	default:
		if !errors.Is(err, c.err) {
			t.Errorf("tlsrpt.Lookup: got %+v, %v; want %v", rec, err, c.err)
		}
	}
}

// sameStrings reports whether a and b hold the same strings in any order
// (a recursive server may rotate an RRset).
func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

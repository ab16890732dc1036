package tlsrpt

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testclock"
	"github.com/mtasts-go/mtasts/validate"
)

// BenchmarkRecordFloor is the floor Record is compared with, measured in
// the same run: one mutex and one map lookup on a struct key, the least a
// concurrency-safe counter per (day, domain, policy) can do.
func BenchmarkRecordFloor(b *testing.B) {
	type key struct {
		day          int64
		domain, text string
	}
	var mu sync.Mutex
	m := map[key]*uint64{{1, "example.com", "policy"}: new(uint64)}
	b.ReportAllocs()
	for b.Loop() {
		mu.Lock()
		*m[key{1, "example.com", "policy"}]++
		mu.Unlock()
	}
}

// BenchmarkReporterRecord is Record through a Reporter with a state
// directory: the recorder plus one journal line written.
func BenchmarkReporterRecord(b *testing.B) {
	p := mustPolicy(b, "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: mx2.example.com\nmax_age: 86400\n")
	rep, err := NewReporter(ReporterOptions{OrganizationName: "X", ContactInfo: "tlsrpt@x.example", Dir: b.TempDir(),
		DNS: NetResolver{}, Clock: testclock.New(time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		b.Fatal(err)
	}
	defer rep.Close()
	rep.status.mu.Lock()
	rep.status.entries["example.com"] = statusEntry{known: true, expires: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	rep.status.mu.Unlock()
	ok := Result{Domain: "example.com", Policy: p, ReceivingMX: "mx1.example.com"}
	b.ReportAllocs()
	for b.Loop() {
		rep.Record(ok)
	}
}

// millionResults records 1 M results over 10 k domains into rec: 90 %
// successes, and failures spread over distinctGroups groups per domain.
func millionResults(rec *Recorder, distinctGroups int) {
	const domains = 10_000
	names := make([]string, domains)
	for i := range names {
		names[i] = fmt.Sprintf("domain-%d.example", i)
	}
	for i := range 1_000_000 {
		d := i % domains
		res := Result{Domain: names[d], ReceivingMX: "mx." + names[d]}
		if i%10 == 0 {
			g := (i / domains) % distinctGroups
			res.ResultType = validate.ResultCertificateExpired
			res.ReceivingIP = netip.AddrFrom4([4]byte{10, byte(g >> 16), byte(g >> 8), byte(g)})
		}
		rec.Record(res)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMillionResultsMemory records 1 M results over 10 k domains and
// reports the heap they take (go test -run MillionResults -v).
func TestMillionResultsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1 M results")
	}
	for _, groups := range []int{3, 100} {
		before := heapInUse()
		clk := &fixedClock{now: time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)}
		rec := NewRecorder(Options{Clock: clk.Now})
		millionResults(rec, groups)
		used := heapInUse() - before
		t.Logf("1 M results, 10 k domains, up to %d failure groups per domain: %.1f MB heap (%d bytes per domain)",
			groups, float64(used)/1e6, used/10_000)
		if used > 64<<20 {
			t.Errorf("%d bytes", used)
		}
		runtime.KeepAlive(rec)
	}
}

// BenchmarkReports10k builds the reports of a day of 10 k domains.
func BenchmarkReports10k(b *testing.B) {
	clk := &fixedClock{now: time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)}
	rec := NewRecorder(Options{Clock: clk.Now})
	p := mustPolicy(b, "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: mx2.example.com\nmax_age: 86400\n")
	for i := range 10_000 {
		d := fmt.Sprintf("domain-%d.example", i)
		for k := range 10 {
			res := Result{Domain: d, Policy: p, ReceivingMX: "mx1.example.com"}
			if k < 3 {
				res.ResultType = validate.ResultCertificateExpired
				res.ReceivingIP = netip.AddrFrom4([4]byte{10, 0, 0, byte(k)})
			}
			rec.Record(res)
		}
	}
	clk.Set(time.Date(2016, 4, 2, 1, 0, 0, 0, time.UTC))
	day := time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reps, err := rec.Reports(day, testOpts)
			if err != nil || len(reps) != 10_000 {
				b.Fatal(len(reps), err)
			}
		}
	})
	b.Run("build_gzip", func(b *testing.B) {
		var z gzipper
		b.ReportAllocs()
		for b.Loop() {
			reps, _ := rec.Reports(day, testOpts)
			for _, r := range reps {
				if _, err := z.gzip(r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

package tlsrpt

import (
	"bufio"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/crashtest"
	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/internal/testclock"
	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/validate"
)

const (
	crashDirEnv  = "MTASTS_TLSRPT_CRASH_DIR"
	crashDNSEnv  = "MTASTS_TLSRPT_CRASH_DNS"
	crashDomains = 5
)

var crashNow = time.Date(2016, 4, 1, 10, 0, 0, 0, time.UTC)

func crashOptions(dir, dns string) ReporterOptions {
	return ReporterOptions{
		OrganizationName: "Company-X",
		ContactInfo:      "tlsrpt@mail.company-x.example",
		Dir:              dir,
		DNS:              dnsclient.New([]string{dns}, time.Second),
		Clock:            testclock.New(crashNow),
	}
}

// crashChild runs in the child process: it records results, printing
// "ok" once each Record has returned, and compacts the state now and
// then, until it is killed.
func crashChild(dir, dns string) {
	rep, err := NewReporter(crashOptions(dir, dns))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		res := Result{Domain: fmt.Sprintf("d%d.example", i%crashDomains)}
		if i%3 == 0 {
			res.ResultType = validate.ResultCertificateExpired
			res.ReceivingMX = fmt.Sprintf("mx%d.example", i%7)
		}
		if err := rep.Record(res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Stdout.WriteString("ok\n")
		if i%200 == 199 {
			if err := rep.j.compact(rep.rec); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
	}
}

// sessions sums the sessions of every entry of rec.
func sessions(rec *Recorder) uint64 {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var n uint64
	for _, c := range rec.policies {
		n += c.success + c.failure
	}
	return n
}

// TestReporterCrash kills a recording process with SIGKILL at random
// points, restarts on its state directory, and checks that every result
// acknowledged before the kill is counted once: never lost, never twice.
func TestReporterCrash(t *testing.T) {
	w := testserver.Start(t)
	for k := range crashDomains {
		w.SetTLSRPT(fmt.Sprintf("d%d.example", k), "v=TLSRPTv1; rua=mailto:tlsrpt@example.com")
	}
	rng := crashtest.Begin(t, 8)
	dir := t.TempDir()
	var total uint64
	for kill := range 8 {
		child := crashtest.Start(t, crashDirEnv+"="+dir, crashDNSEnv+"="+w.DNSAddr())
		var acked atomic.Uint64
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(child.Out)
			for sc.Scan() {
				acked.Add(1)
			}
		}()
		// Kill once it has recorded a random number of results.
		want := uint64(100 + rng.IntN(3000))
		deadline := time.Now().Add(20 * time.Second)
		for acked.Load() < want && time.Now().Before(deadline) && child.Stderr() == "" {
			time.Sleep(time.Millisecond)
		}
		child.Signal()
		<-done // every line written before the kill
		child.Reap(fmt.Sprintf("kill %d", kill))
		n := acked.Load()

		rep, err := NewReporter(crashOptions(dir, w.DNSAddr()))
		if err != nil {
			t.Fatalf("kill %d: restart: %v", kill, err)
		}
		got := sessions(rep.rec)
		// The result in flight at the kill may have reached the journal
		// without its "ok" reaching us.
		if got < total+n || got > total+n+1 {
			t.Errorf("kill %d: %d sessions counted, want %d (+1)", kill, got, total+n)
		}
		if err := rep.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d after %d results: %d sessions in all", kill, n, got)
		total = got
	}
}

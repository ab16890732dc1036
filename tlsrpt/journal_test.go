package tlsrpt

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/internal/testserver"
	"github.com/mtasts-go/mtasts/validate"
)

// TestJournalCompactsBySize: once the journal passes its size limit, the
// Reporter's loop compacts it (a new journal, the old ones deleted), and
// a restart counts every result once.
func TestJournalCompactsBySize(t *testing.T) {
	w := testserver.Start(t)
	for k := range crashDomains {
		w.SetTLSRPT(fmt.Sprintf("d%d.example", k), "v=TLSRPTv1; rua=mailto:tlsrpt@example.com")
	}
	dir := t.TempDir()
	rep, err := NewReporter(crashOptions(dir, w.DNSAddr()))
	if err != nil {
		t.Fatal(err)
	}
	rep.j.mu.Lock()
	rep.j.limit = 4 << 10
	first := rep.j.seq
	rep.j.mu.Unlock()

	journals := func() []string {
		var out []string
		des, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			if strings.HasPrefix(de.Name(), "journal") {
				out = append(out, de.Name())
			}
		}
		return out
	}
	recorded := 0
	compactions := 0
	deadline := time.Now().Add(20 * time.Second)
	for compactions < 3 && time.Now().Before(deadline) {
		res := Result{Domain: fmt.Sprintf("d%d.example", recorded%crashDomains)}
		if recorded%3 == 0 {
			res.ResultType = validate.ResultCertificateExpired
			res.ReceivingMX = fmt.Sprintf("mx%d.example", recorded%7)
		}
		if err := rep.Record(res); err != nil {
			t.Fatal(err)
		}
		recorded++
		rep.j.mu.Lock()
		compactions = rep.j.seq - first
		size, limit := rep.j.size, rep.j.limit
		rep.j.mu.Unlock()
		if size > 4*limit {
			time.Sleep(time.Millisecond) // let the loop catch up, bounded by the deadline
		}
	}
	if compactions < 3 {
		t.Fatalf("%d compactions after %d results", compactions, recorded)
	}
	// The compaction deletes the older journals after its snapshot.
	for len(journals()) != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling, bounded by the deadline
	}
	if js := journals(); len(js) != 1 {
		t.Errorf("journals left after compacting: %v", js)
	}
	if err := rep.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := NewReporter(crashOptions(dir, w.DNSAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := sessions(again.rec); got != uint64(recorded) {
		t.Fatalf("%d sessions after a restart, %d recorded", got, recorded)
	}
	t.Logf("%d results, %d compactions by size", recorded, compactions)
}

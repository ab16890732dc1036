package resolver

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testOptions points a resolver at the world, with short timeouts so that
// the slow faults fail fast.
func testOptions(w *testserver.World) Options {
	return Options{
		DNS:          []string{w.DNSAddr()},
		DNSTimeout:   300 * time.Millisecond,
		RootCAs:      w.RootCAs(),
		HTTPSPort:    w.HTTPSPort(),
		FetchTimeout: 1500 * time.Millisecond,
	}
}

// newTest starts a world and a resolver on it, both closed when the test
// ends.
func newTest(t testing.TB, mod ...func(*Options)) (*testserver.World, *Resolver) {
	t.Helper()
	w := testserver.Start(t)
	opts := testOptions(w)
	for _, f := range mod {
		f(&opts)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

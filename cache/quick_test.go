package cache

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/policy"
)

// quickSeeds are entry objects as MarshalBinary writes them, and a few
// spellings that the quick decoder must leave to encoding/json.
func quickSeeds(t testing.TB) [][]byte {
	p, _, err := policy.Parse([]byte("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mx.example.com\r\nmax_age: 86400\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
	var seeds [][]byte
	for _, e := range []*Entry{
		NewEntry("example.com", "20250601", p, now),
		NewEntry("example.com", `id"with\\quotes`, p, now),
		NoPolicy("neg.example", now, now.Add(time.Hour)),
		NewEntry("example.com", "1", p, now).WithFailure(Failure{At: now, ID: "2", Err: "boom"}),
	} {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		env, ok := quickEnvelope(b)
		if !ok {
			t.Fatalf("quickEnvelope refused %s", b)
		}
		seeds = append(seeds, env.Entry)
	}
	return append(seeds,
		[]byte(`{"domain":"a\u0041.example","expires":"2099-01-02T03:04:05Z","checked":"2099-01-02T03:04:05Z"}`),
		[]byte(`{"domain":"é.example","expires":"2099-01-02T03:04:05Z","checked":"2099-01-02T03:04:05Z"}`),
		[]byte(`{"domain":"a.example","expires":"2099-01-02T03:04:05+01:00","checked":"2099-01-02T03:04:05.5Z"}`),
		[]byte(`{"domain":"a.example","expires":"2099-01-02T03:04:05Z","checked":"2099-01-02T03:04:05Z"} `),
	)
}

// checkQuickAgrees fails if quickEntry accepts b and encoding/json does not
// decode it to the same.
func checkQuickAgrees(t *testing.T, b []byte) bool {
	got, ok := quickEntry(b)
	if !ok {
		return false
	}
	var want encodedEntry
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("quickEntry accepted %q, encoding/json refuses it: %v", b, err)
	}
	if got.Domain != want.Domain || got.ID != want.ID || got.Policy != want.Policy ||
		!got.Expires.Equal(want.Expires) || !got.Checked.Equal(want.Checked) || want.Failure != nil {
		t.Fatalf("%q: quick %+v, encoding/json %+v", b, got, want)
	}
	return true
}

// TestQuickDecodersAgree: what MarshalBinary writes for an ordinary entry
// takes the quick path, and decodes as encoding/json decodes it; other
// spellings are left to encoding/json.
func TestQuickDecodersAgree(t *testing.T) {
	seeds := quickSeeds(t)
	// MarshalBinary's ordinary entries, its entry with a failure, a \u
	// escape, non-ASCII, another time zone and fraction, trailing space.
	want := []bool{true, true, true, false, false, false, true, false}
	for i, b := range seeds {
		if quick := checkQuickAgrees(t, b); quick != want[i] {
			t.Errorf("seed %d %q: quick path %v, want %v", i, b, quick, want[i])
		}
	}
}

func FuzzQuickEntry(f *testing.F) {
	for _, b := range quickSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkQuickAgrees(t, b)
	})
}

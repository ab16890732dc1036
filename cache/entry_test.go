package cache_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/internal/storetest"
	"github.com/mtasts-go/mtasts/policy"
)

func TestEntryTimes(t *testing.T) {
	fetched := time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.FixedZone("X", 3600))
	p := storetest.Policy(t, "enforce", 3600, "mx.example.net")
	e := cache.NewEntry("example.com", "id1", p, fetched)
	sec := time.Date(2025, 3, 4, 4, 6, 7, 0, time.UTC) // fetched, to the second, in UTC
	if !e.FetchedAt().Equal(sec) || e.FetchedAt().Location() != time.UTC {
		t.Errorf("FetchedAt = %v, want %v", e.FetchedAt(), sec)
	}
	if !e.CheckedAt().Equal(sec) {
		t.Errorf("CheckedAt = %v, want %v", e.CheckedAt(), sec)
	}
	if !e.Expires().Equal(sec.Add(time.Hour)) {
		t.Errorf("Expires = %v, want %v", e.Expires(), sec.Add(time.Hour))
	}
	for _, tc := range []struct {
		at      time.Time
		expired bool
	}{
		{sec, false},
		{sec.Add(time.Hour - time.Nanosecond), false},
		{sec.Add(time.Hour), false},                                 // valid up to and including fetched + max_age
		{sec.Add(time.Hour + time.Second - time.Nanosecond), false}, // to the second
		{sec.Add(time.Hour + time.Second), true},
		{sec.Add(48 * time.Hour), true},
	} {
		if got := e.Expired(tc.at); got != tc.expired {
			t.Errorf("Expired(%v) = %v, want %v", tc.at, got, tc.expired)
		}
	}
	if e.Domain() != "example.com" || e.ID() != "id1" || e.Policy() != p {
		t.Errorf("Domain, ID, Policy = %q, %q, %p", e.Domain(), e.ID(), e.Policy())
	}
	if _, ok := e.LastFailure(); ok {
		t.Error("a new entry has a failure")
	}
}

func TestEntryWith(t *testing.T) {
	now := storetest.Now()
	e := storetest.Enforce(t, "example.com", "a")
	c := e.WithCheckedAt(now.Add(time.Hour))
	if !c.CheckedAt().Equal(now.Add(time.Hour)) || !e.CheckedAt().Equal(now) {
		t.Errorf("WithCheckedAt: copy %v, original %v", c.CheckedAt(), e.CheckedAt())
	}
	if !c.Expires().Equal(e.Expires()) || !c.FetchedAt().Equal(e.FetchedAt()) || c.Policy() != e.Policy() {
		t.Error("WithCheckedAt changed more than the check time")
	}

	f := c.WithFailure(cache.Failure{At: now.Add(90 * time.Minute).Add(time.Millisecond), ID: "b", Err: strings.Repeat("x", 5000)})
	got, ok := f.LastFailure()
	if !ok || !got.At.Equal(now.Add(90*time.Minute)) || got.ID != "b" || len(got.Err) != 1024 {
		t.Errorf("LastFailure = %v, %+v", ok, got)
	}
	if _, ok := c.LastFailure(); ok {
		t.Error("WithFailure changed the original")
	}
	if !f.Expires().Equal(e.Expires()) || f.ID() != "a" {
		t.Error("a failure changed the policy's expiry or id")
	}
	if _, ok := f.WithoutFailure().LastFailure(); ok {
		t.Error("WithoutFailure kept the failure")
	}
}

func TestNoPolicy(t *testing.T) {
	now := storetest.Now()
	e := cache.NoPolicy("example.com", now, now.Add(5*time.Minute))
	if e.Policy() != nil || e.ID() != "" || !e.FetchedAt().IsZero() {
		t.Errorf("negative entry: policy %v, id %q, fetched %v", e.Policy(), e.ID(), e.FetchedAt())
	}
	if e.Expired(now.Add(5*time.Minute)) || !e.Expired(now.Add(5*time.Minute+time.Second)) {
		t.Error("negative entry expiry wrong")
	}
	if n := cache.NewEntry("example.com", "ignored", nil, now); n.ID() != "" || !n.Expired(now.Add(time.Second)) {
		t.Errorf("NewEntry with a nil policy: id %q, expired %v", n.ID(), n.Expired(now.Add(time.Second)))
	}
}

// TestEntryClamp: times outside 1970..2106 are clamped, not wrapped.
func TestEntryClamp(t *testing.T) {
	e := cache.NoPolicy("example.com", time.Time{}, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	if !e.CheckedAt().Equal(time.Unix(0, 0)) {
		t.Errorf("CheckedAt = %v, want 1970", e.CheckedAt())
	}
	if e.Expires().Year() != 2106 || e.Expired(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Expires = %v, want 2106", e.Expires())
	}
	p := storetest.Policy(t, "enforce", policy.MaxMaxAge, "mx.example.net")
	late := cache.NewEntry("example.com", "1", p, time.Date(2106, 2, 1, 0, 0, 0, 0, time.UTC))
	if late.Expires().Before(late.CheckedAt()) {
		t.Errorf("expiry wrapped: %v before %v", late.Expires(), late.CheckedAt())
	}
}

// TestNewEntryClonesID: a record's id may point into the whole TXT answer;
// the entry must not pin it.
func TestNewEntryClonesID(t *testing.T) {
	txt := "v=STSv1; id=abc123;"
	rec, err := policy.ParseRecord(txt)
	if err != nil {
		t.Fatal(err)
	}
	e := storetest.Enforce(t, "example.com", "x")
	e = cache.NewEntry("example.com", rec.ID, e.Policy(), storetest.Now())
	if e.ID() != "abc123" {
		t.Fatalf("ID = %q", e.ID())
	}
	if unsafe.StringData(e.ID()) == unsafe.StringData(rec.ID) {
		t.Error("NewEntry kept the caller's id string")
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	now := storetest.Now()
	for _, e := range []*cache.Entry{
		storetest.Enforce(t, "example.com", "a"),
		cache.NewEntry("ext.example", "z", mustParse(t, "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 60\nfoo: bar baz\n"), now),
		cache.NoPolicy("neg.example", now, now.Add(time.Minute)).WithFailure(cache.Failure{At: now, ID: "q", Err: "\"quoted\" & <html> \x00 ü"}),
	} {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := cache.ParseEntry(b)
		if err != nil {
			t.Fatalf("ParseEntry(%s): %v", b, err)
		}
		if d := storetest.Equal(got, e); d != "" {
			t.Errorf("%s: %s", e.Domain(), d)
		}
		if !bytes.HasPrefix(b, []byte(`{"v":1,"crc32c":"`)) || b[len(b)-1] != '\n' {
			t.Errorf("encoding %s", b)
		}
	}
}

// TestEncodingTorn: no strict prefix of an encoding, and no single-byte
// change of it, decodes to an entry.
func TestEncodingTorn(t *testing.T) {
	b, err := storetest.Enforce(t, "example.com", "a").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) - 1 { // the final newline is optional
		if _, err := cache.ParseEntry(b[:n]); !errors.Is(err, cache.ErrCorrupt) {
			t.Fatalf("prefix of %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if e, err := cache.ParseEntry(c); err == nil {
			// Flipping a bit of JSON syntax between fields may leave
			// the same entry; anything else must be caught.
			if d := storetest.Equal(e, storetest.Enforce(t, "example.com", "a")); d != "" {
				t.Errorf("byte %d flipped: decoded a different entry: %s", i, d)
			}
		} else if !errors.Is(err, cache.ErrCorrupt) {
			t.Errorf("byte %d flipped: %v does not wrap ErrCorrupt", i, err)
		}
	}
}

func TestEncodingErrors(t *testing.T) {
	bad := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 60} // no mx
	if _, err := cache.NewEntry("x.example", "1", bad, storetest.Now()).MarshalBinary(); err == nil {
		t.Error("MarshalBinary of an invalid policy succeeded")
	}
	var nilEntry *cache.Entry
	if _, err := nilEntry.MarshalBinary(); !errors.Is(err, cache.ErrInvalid) {
		t.Errorf("MarshalBinary(nil) = %v", err)
	}
	var mx []string
	for i := 0; i < 12000; i++ { // 12000 lines of 36 bytes: over MaxEncodedSize
		mx = append(mx, "mx"+strings.Repeat("x", 20)+".example")
	}
	huge := cache.NewEntry("x.example", "1", &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 60, MX: mx}, storetest.Now())
	if _, err := huge.MarshalBinary(); !errors.Is(err, cache.ErrTooLarge) {
		t.Errorf("MarshalBinary of a huge entry = %v, want ErrTooLarge", err)
	}
	for _, s := range []string{
		`{"v":1,"crc32c":"zz","entry":{}}`,
		`{"v":1,"crc32c":"00000000","entry":{}}`,
		`{"v":1,"crc32c":"0","entry":{}}`,
		`[]`,
	} {
		if _, err := cache.ParseEntry([]byte(s)); !errors.Is(err, cache.ErrCorrupt) {
			t.Errorf("ParseEntry(%s) = %v", s, err)
		}
	}
}

func mustParse(t *testing.T, s string) *policy.Policy {
	t.Helper()
	p, _, err := policy.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func FuzzParseEntry(f *testing.F) {
	now := storetest.Now()
	for _, e := range []*cache.Entry{
		storetest.Enforce(f, "example.com", "a"),
		cache.NoPolicy("neg.example", now, now.Add(time.Minute)).WithFailure(cache.Failure{At: now, ID: "q", Err: "e"}),
	} {
		b, _ := e.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := cache.ParseEntry(b)
		if err != nil {
			return
		}
		// What decodes re-encodes, and decodes to the same entry.
		b2, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		e2, err := cache.ParseEntry(b2)
		if err != nil {
			t.Fatal(err)
		}
		if d := storetest.Equal(e, e2); d != "" {
			t.Fatal(d)
		}
	})
}

// TestFailureTextNeverCorruptsTheEntry: a failure text that is long, cut in
// the middle of a character, or not UTF-8 at all still gives an entry that
// decodes, with its policy.
func TestFailureTextNeverCorruptsTheEntry(t *testing.T) {
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 3600, MX: []string{"mx.example.net"}}
	for name, text := range map[string]string{
		"odd_prefix_then_multibyte": "x" + strings.Repeat("\u00e9", 600),
		"invalid_utf8":              strings.Repeat("\xff\xfe", 700),
		"quotes_and_angles":         strings.Repeat(`"<>&\`, 400),
	} {
		t.Run(name, func(t *testing.T) {
			e := cache.NewEntry("example.com", "1", p, storetest.Now()).
				WithFailure(cache.Failure{At: storetest.Now(), ID: "2", Err: text})
			b, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			back, err := cache.ParseEntry(b)
			if err != nil {
				t.Fatalf("ParseEntry of our own encoding: %v", err)
			}
			f, ok := back.LastFailure()
			if !ok || back.Policy() == nil || len(f.Err) > 1024 || !utf8.ValidString(f.Err) {
				t.Fatalf("decoded %+v, failure %q", back, f.Err)
			}
		})
	}
}

// TestPolicyOfHTMLCharactersFitsTheStore: a valid policy near 64 KiB whose
// extension values are all characters that JSON may escape still encodes.
func TestPolicyOfHTMLCharactersFitsTheStore(t *testing.T) {
	var exts []policy.Extension
	for i := 0; len(exts)*40 < 60000; i++ {
		exts = append(exts, policy.Extension{Key: fmt.Sprintf("x%d", i), Value: strings.Repeat(`<"`, 16)})
	}
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 3600, MX: []string{"mx.example.net"}, Extensions: exts}
	if n := len(p.String()); n > 64<<10 {
		t.Fatalf("test policy is %d bytes", n)
	}
	b, err := cache.NewEntry("example.com", "1", p, storetest.Now()).MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	if _, err := cache.ParseEntry(b); err != nil {
		t.Fatal(err)
	}
}

// TestParseEntryAnySpelling: the envelope is JSON, whatever its spelling;
// the quick path for MarshalBinary's own bytes and encoding/json agree.
func TestParseEntryAnySpelling(t *testing.T) {
	want := storetest.Enforce(t, "spelling.example", "1")
	b, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"as_written":    b,
		"no_newline":    bytes.TrimSuffix(b, []byte("\n")),
		"keys_reversed": reverseEnvelope(t, b),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := cache.ParseEntry(data)
			if err != nil {
				t.Fatal(err)
			}
			if d := storetest.Equal(got, want); d != "" {
				t.Error(d)
			}
		})
	}
	// Trailing bytes after the envelope are no entry.
	if _, err := cache.ParseEntry(append(bytes.Clone(b), `{}`...)); !errors.Is(err, cache.ErrCorrupt) {
		t.Errorf("trailing bytes: %v", err)
	}
}

// reverseEnvelope writes the envelope's keys in the opposite order.
func reverseEnvelope(t *testing.T, b []byte) []byte {
	var env struct {
		V     int             `json:"v"`
		Sum   string          `json:"crc32c"`
		Entry json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, `{"entry":%s,"crc32c":%q,"v":%d}`, env.Entry, env.Sum, env.V)
}

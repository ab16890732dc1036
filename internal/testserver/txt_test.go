package testserver

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// goResolver asks the world through the Go standard library's own DNS
// client, which hands TXT strings over as raw bytes: an oracle that shares
// no code with miekg/dns, so that the world cannot agree with a client on a
// wrong encoding.
func goResolver(w *World) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, w.DNSAddr())
	}}
}

// TestTXTPublishesRawBytes: SetTXT and SetTXTStrings publish the bytes they
// are given, whatever they are, not a presentation format.
func TestTXTPublishesRawBytes(t *testing.T) {
	w := Start(t)
	long := strings.Repeat("a", 254) + "\t"
	for name, v := range map[string]string{
		"backslash":   `x=\`,
		"quote":       `a"b`,
		"escape_like": `\065\\`,
		"tab":         "v=STSv1;\tid=x",
		"del":         "x=\x7f",
		"ff":          "x=\xff",
		"utf8":        "x=é",
		"nul":         "a\x00b",
		"len255":      long,
		"len300":      strings.Repeat("b", 299) + "\"",
	} {
		t.Run(name, func(t *testing.T) {
			w.SetTXT(name+".raw.test", v)
			got, err := goResolver(w).LookupTXT(context.Background(), name+".raw.test")
			if err != nil || len(got) != 1 || got[0] != v {
				t.Fatalf("LookupTXT = %q, %v; want %q", got, err, v)
			}
		})
	}
	t.Run("explicit_strings", func(t *testing.T) {
		w.SetTXTStrings("split.raw.test", []string{"v=STSv1; i", "d=a\tb", `\`}, []string{"other"})
		got, err := goResolver(w).LookupTXT(context.Background(), "split.raw.test")
		slices.Sort(got)
		if err != nil || !slices.Equal(got, []string{"other", "v=STSv1; id=a\tb\\"}) {
			t.Fatalf("LookupTXT = %q, %v", got, err)
		}
		r := mustExchange(t, w, "udp", "split.raw.test", dns.TypeTXT)
		var counts []int
		for _, rr := range r.Answer {
			counts = append(counts, len(rr.(*dns.TXT).Txt))
		}
		if slices.Sort(counts); !slices.Equal(counts, []int{1, 3}) {
			t.Errorf("character-strings per record %v, want 1 and 3: %v", counts, r.Answer)
		}
	})
}

// TestTXTStringLimit: a character-string holds at most 255 bytes; SetTXT
// splits longer values, so that every value can be published.
func TestTXTStringLimit(t *testing.T) {
	w := Start(t)
	v := strings.Repeat("\xff", 600)
	w.SetTXT("big.raw.test", v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := goResolver(w).LookupTXT(ctx, "big.raw.test")
	if err != nil || len(got) != 1 || got[0] != v {
		t.Fatalf("LookupTXT: %d strings, %v", len(got), err)
	}
}

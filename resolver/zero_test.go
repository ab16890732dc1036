package resolver

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestZeroResolver: a Resolver not made by New reports ErrNotInitialised
// from every call instead of panicking.
func TestZeroResolver(t *testing.T) {
	var r Resolver
	ctx := context.Background()
	if _, err := r.Check(ctx, domain, goodMX); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("Check: %v", err)
	}
	if _, err := r.Lookup(ctx, domain); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("Lookup: %v", err)
	}
	if _, err := r.Refresh(ctx, domain); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("Refresh: %v", err)
	}
	if err := r.Purge(ctx, domain); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("Purge: %v", err)
	}
	if err := r.PurgeAll(ctx); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("PurgeAll: %v", err)
	}
	for range r.Cached() {
		t.Error("Cached yielded an entry")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestDecisionLogs: a Decision prints as one line, and logs as a group of
// its fields, without the policy's lines or internal pointers; a mismatch
// names the policy's patterns.
func TestDecisionLogs(t *testing.T) {
	w, r := newTest(t)
	w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX, "*.backup.example.test"}, MaxAge: 86400, ID: "log1"})
	d, err := r.Check(context.Background(), domain, otherMX)
	if err != nil || d.Action != Refuse {
		t.Fatalf("Check = %+v, %v", d, err)
	}
	if !strings.HasPrefix(d.Reason, ReasonMismatch) || !strings.Contains(d.Reason, goodMX+", *.backup.example.test") {
		t.Errorf("Reason = %q; want the patterns named", d.Reason)
	}
	s := d.String()
	for _, want := range []string{"refuse", domain, otherMX, "enforce", "log1", "validation-failure", goodMX} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, lacks %q", s, want)
		}
	}
	if strings.ContainsAny(s, "\r\n") || strings.Contains(s, "0x") || strings.Contains(s, "version: STSv1") {
		t.Errorf("String() = %q: not one clean line", s)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("decision", "d", d)
	out := b.String()
	for _, want := range []string{"d.action=refuse", "d.domain=" + domain, "d.mx=" + otherMX, "d.mode=enforce", "d.id=log1", "d.result=validation-failure"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if strings.Count(out, "\n") != 1 || strings.Contains(out, "0x") {
		t.Errorf("log %q: not one clean line", out)
	}
	// Many patterns are truncated.
	var many []string
	for i := range 50 {
		many = append(many, "mx"+strings.Repeat("x", i)+".example.test")
	}
	w.SetPolicy(domain, testserver.Policy{Mode: "enforce", MX: many, MaxAge: 86400})
	r.Purge(context.Background(), domain)
	d, _ = r.Check(context.Background(), domain, otherMX)
	if len(d.Reason) > 300 || !strings.Contains(d.Reason, "...") {
		t.Errorf("Reason of %d bytes: %q", len(d.Reason), d.Reason)
	}
}

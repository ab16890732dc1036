package main

import (
	"context"
	"testing"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// BenchmarkAnswerCacheHit: the answer logic alone (no socket) for a cached
// enforce policy, without -dane: the path every cached query takes.
func BenchmarkAnswerCacheHit(b *testing.B) {
	w := testserver.Start(b)
	cmdtest.AddDomain(b, w, "enforce.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.test", "*.mx.enforce.test"}, MaxAge: 86400})
	s := &Server{Lookuper: newResolver(b, w), Log: quietLog()}
	benchAnswer(b, s, "postfix enforce.test", enforceReply)
}

func benchAnswer(b *testing.B, s *Server, req, want string) {
	b.Helper()
	var buf answerBuf
	ctx := context.Background()
	if got := string(s.answer(ctx, []byte(req), &buf)); !replyMatches(got, want) {
		b.Fatalf("%q: got %q, want %q", req, got, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.answer(ctx, []byte(req), &buf)
	}
}

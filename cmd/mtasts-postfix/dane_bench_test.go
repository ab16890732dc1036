package main

import "testing"

// BenchmarkAnswerDANE: the answer logic alone (no socket) with -dane, every
// cache warm: a domain DANE decides, and one it leaves to MTA-STS (the DANE
// level lookup comes before the policy lookup). Compare with
// BenchmarkAnswerCacheHit, the same without -dane.
func BenchmarkAnswerDANE(b *testing.B) {
	w := daneWorld(b)
	r := newDANEResolver(b, w)
	s := &Server{Lookuper: r, Log: quietLog(), DANE: newTestDANELookup(w, r)}
	b.Run("dane-only", func(b *testing.B) { benchAnswer(b, s, "postfix all-secure.test", "OK dane-only") })
	b.Run("mta-sts", func(b *testing.B) { benchAnswer(b, s, "postfix no-tlsa.test", daneEnforceReply) })
}

// Package resolver discovers, fetches, caches and applies MTA-STS policies
// (RFC 8461): it answers, for each delivery attempt, whether a sender may
// deliver mail for a domain to one of its MX hosts, and how to configure TLS
// for it.
//
// An MTA makes one call per MX host, in MX preference order:
//
//	d, err := r.Check(ctx, "example.com", "mx1.example.com")
//	switch d.Action {
//	case resolver.Deliver, resolver.DeliverWithoutSTS:
//		// STARTTLS with d.TLSConfig(base); under enforce a certificate
//		// that fails the policy fails the handshake.
//	case resolver.Refuse:
//		// next MX; when none is left, a temporary failure (retry later).
//	case resolver.Defer:
//		// the _mta-sts lookup failed temporarily: retry later.
//	}
//
// Discovery follows RFC 8461 section 3: the "_mta-sts" TXT record through
// the configured name servers (CNAMEs followed, TCP on truncation), then
// https://mta-sts.<domain>/.well-known/mta-sts.txt, with the policy host's
// addresses looked up through the same servers, TLS 1.2 or later, WebPKI
// validation, no redirects, status 200, text/plain, 64 KiB. Concurrent
// lookups of one domain share one query and one fetch. A fetch that fails,
// with no valid policy cached, means delivery without MTA-STS (RFC 8461
// section 3.3) and a TLS-RPT result in the Decision; only a temporary
// failure of the TXT lookup itself defers (Options.OnTemporaryError).
// After a failed fetch the same policy id is not fetched again for five
// minutes, and its failure is answered at once.
//
// TXT records are read as the bytes published: a tab is white space, and a
// byte that is not US-ASCII makes the record invalid, however the DNS
// library would have escaped it. A domain that is an address literal
// ("[192.0.2.1]") has no policy (RFC 8461 section 3.4).
//
// # Deadlines
//
// The work of a discovery (the TXT lookup, the policy host's addresses, the
// fetch) runs under the resolver's own deadline, Options.FetchTimeout,
// detached from the caller's context and shared by every caller that asks
// meanwhile; only Close cancels it. A caller's context bounds only its own
// wait. If it ends before the TXT record is known, Check returns Defer and
// the context's error: whether a policy exists is unknown. If it ends once
// the record is found, while the policy is being fetched, the delivery at
// hand is treated as a failed fetch: DeliverWithoutSTS, Result
// sts-policy-fetch-error, the record's id in PolicyID (Lookup returns the
// Entry with its id and the *FetchError). The fetch goes on, and its policy
// (or its failure, answered at once during the five-minute backoff) serves
// the calls that follow. So an MTA whose deadline per attempt is shorter
// than FetchTimeout is never deferred again and again by a policy host that
// stalls, which would let a broken web server hold mail up.
//
// # Temporary DNS failures
//
// When the _mta-sts lookup fails temporarily (SERVFAIL, REFUSED, a timeout,
// a referral or lame answer, which are never read as "no record") and
// nothing is cached, nobody knows whether the domain has a policy. The
// resolver defers (Options.OnTemporaryError) while the domain's lookups
// have failed for less than Options.TemporaryErrorGrace, 30 minutes by
// default, and then delivers without MTA-STS, with ReasonGraceOver and the
// DNS error in the Decision (Decision.GraceEnds says when a deferred
// domain's grace ends). The runs of failures are remembered per domain, in
// bounded memory; any answer ends a run.
//
// The default is neither extreme, for measured reasons. Deferring for ever
// (GraceForever) holds all mail to a domain whose DNS delegation is broken
// until it bounces: users of postfix-tlspol, which does so, report mail
// stuck for days (its issues 7, 82 and 189); and it buys no security, since
// an attacker who can break DNS at first contact can as easily forge
// NXDOMAIN. Delivering at once (a negative grace, as postfix-mta-sts-resolver
// and mox do) gives a passing SERVFAIL no second chance, on the one delivery
// where a policy would have been learnt. Thirty minutes let an MTA retry
// once or twice.
//
// # Caching and refresh
//
// Fetched policies are cached (in memory, bounded by Options.CacheSize, in
// front of an optional persistent or shared Options.Store) until max_age
// expires, and served without any I/O. The rules of RFC 8461 sections 3.3,
// 5.1 and 10.2 keep them fresh and never let a failure weaken them:
//
//   - after Options.RevalidateInterval (5 minutes) a cached policy's TXT
//     record is checked again in the background; a new id is refetched,
//     and so is an unchanged one once the policy is past half its max_age;
//   - a background loop refreshes policies within Options.RefreshBefore
//     (24 hours) of expiry, with a per-domain jitter;
//   - a failed lookup, a vanished record, a failed fetch or an invalid
//     policy never replaces a valid cached policy: it applies until it
//     expires (Source stale, Events.ServedStale), and, unless its mode is
//     none, its Decisions report the failed fetch in Result and Err, for
//     TLS-RPT (RFC 8461 section 6); only a newly fetched valid policy
//     replaces it, and a weaker one fires Events.Downgraded;
//   - a policy is valid up to and including the second of its fetch time
//     plus max_age;
//   - under enforce, an MX host that fails the cached policy is refused
//     only after the TXT record has been checked again (and a new policy
//     fetched if its id changed).
//
// Cached, Purge, PurgeAll and Refresh let an operator look and act.
//
// # DANE
//
// With Options.DNSSEC (the DNS servers validate DNSSEC and are trusted to),
// Check decides DANE (RFC 7672) for the MX host too, and DANE takes
// precedence as RFC 8461 section 2 requires: a host whose MX RRset,
// addresses and TLSA records are DNSSEC-secure, with usable TLSA records,
// is governed by them whatever the MTA-STS mode (Decision.DANEStatus
// DANESecure: Deliver, RequireTLS, and Decision.TLSConfig verifies the
// certificate against the records with the TLSA base domain as SNI); a
// failed DNSSEC lookup refuses the host (DANEBogus, dnssec-invalid);
// validated but unusable records make TLS mandatory (DANEUnusable); an
// insecure zone or a validated denial leaves MTA-STS alone (DANENone).
// Decision.PolicyType and PolicyDomain say how to report the session to
// TLS-RPT. See docs/ARCHITECTURE.md, "DANE".
//
// Every failure is typed: *DNSError, *FetchError (with the RFC 8460 result
// type from its Result method), *DomainError. Time comes from
// Options.Clock when set, so tests can move it. A Resolver is safe for
// concurrent use, and Close stops every goroutine it started.
package resolver

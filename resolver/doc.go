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
// minutes.
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
//     expires (Source stale, Events.ServedStale); only a newly fetched
//     valid policy replaces it, and a weaker one fires Events.Downgraded;
//   - under enforce, an MX host that fails the cached policy is refused
//     only after the TXT record has been checked again (and a new policy
//     fetched if its id changed).
//
// Cached, Purge, PurgeAll and Refresh let an operator look and act.
//
// Every failure is typed: *DNSError, *FetchError (with the RFC 8460 result
// type from its Result method), *DomainError. Time comes from
// Options.Clock when set, so tests can move it. A Resolver is safe for
// concurrent use, and Close stops every goroutine it started.
package resolver

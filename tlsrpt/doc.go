// Package tlsrpt is the sending side of SMTP TLS Reporting (RFC 8460): it
// counts the outcome of every delivery attempt, and once a day builds
// each policy domain's JSON report, finds where the domain wants it and
// delivers it.
//
// Most MTAs need one value, a [Reporter], which they start and close:
//
//	rep, err := tlsrpt.NewReporter(tlsrpt.ReporterOptions{
//		OrganizationName: "Example Mail", ContactInfo: "tlsrpt@mail.example.net",
//		Dir:    "/var/lib/mta/tlsrpt", // journal + snapshot: a crash loses no count
//		DNS:    tlsrpt.NetResolver{},
//		Submit: tlsrpt.SubmitSMTP(tlsrpt.SubmitOptions{Addr: "localhost:587"}),
//		DKIM:   &tlsrpt.DKIM{Domain: "mail.example.net", Selector: "tlsrpt", Signer: key},
//	})
//	defer rep.Close()
//	// per session with an MX host, d being the resolver's Decision:
//	rep.Record(tlsrpt.Session(d.Domain, d.MX, d.Policy, d.Result, handshakeErr))
//
// The Reporter then runs the daily cycle itself: after 00:00 UTC and a
// random delay of up to MaxDelay (RFC 8460 section 4.1), it builds each
// domain's report, looks up its "_smtp._tls" record, and POSTs the gzipped
// report to https destinations or mails it, DKIM-signed, with
// "TLS-Required: No", through the submission server; it retries with
// doubling backoff for 24 hours (section 5.5), and stops at once on a
// permanent failure (a 5xx reply, an unusable address). It refuses to
// mail reports unsigned unless told to (SendUnsignedMail).
//
// Several MTA nodes share their counts, and send each report once,
// through a [Fleet] (tlsrpt/redisreport keeps it in Redis): each node
// journals its results, pushes them every FlushInterval as a batch that
// counts once even if pushed twice, and the node that takes a report's
// lease sends it.
//
// The parts, for MTAs that need their own cycle:
//
//   - [Recorder.Record] counts one [Result] per policy domain, policy and
//     UTC day; it is cheap (one mutex, no allocation once a group exists)
//     and bounded in memory: Options limit the entries and the failure
//     groups (the largest are kept, the rest counted), days are
//     forgotten 48 hours after their end, and [Stats] says what was not
//     kept. It validates what it counts: a result that would make an
//     invalid report is refused with a [*ResultError].
//   - [Recorder.Reports] turns a finished day into one [Report] per
//     policy domain, with the field names, date range (00:00:00Z to
//     23:59:59Z), A-label domains and RFC 5952 addresses of RFC 8460
//     section 4, and a report-id unique per node and day.
//   - [Lookup] (or [ParseTXT]) reads a domain's "_smtp._tls" record;
//     [ParseRecord] follows its ABNF strictly, keeps the https and mailto
//     destinations of every rua field, and lists the URIs it cannot use
//     ([Record].Unusable, [Record].Ignored) without rejecting the record.
//   - [Sender.Deliver] gzips a report and POSTs it, or mails a
//     multipart/report [Message], retrying with backoff.
//   - [Recorder.Snapshot], [Recorder.Restore] (idempotent),
//     [Recorder.SaveFile] and [Recorder.LoadFile] carry counts across a
//     restart; [LoadState] reads a Reporter's state directory.
//
// What a session counts as is the caller's to say: RFC 8460 counts as
// successful the sessions that negotiated a policy-compliant TLS
// connection. For no-policy-found, this package counts what it is told;
// the natural choice, and the one the examples make, is TLS negotiated
// (success) versus STARTTLS missing or failed (failure). Transient network
// failures need not be counted (section 4.3.4).
//
// A Recorder starts no goroutine; a Reporter's goroutines all end in
// Close. Nothing panics on input.
package tlsrpt

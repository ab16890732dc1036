// Package tlsrpt is the sending side of SMTP TLS Reporting (RFC 8460): it
// finds where a domain wants its reports, counts the outcome of every
// delivery attempt, builds the daily JSON reports and delivers them.
//
// The pieces, in the order a mail server uses them:
//
//   - [Recorder.Record] counts one [Result] (a session, or a failed
//     policy fetch) per policy domain, policy and UTC day. It is cheap
//     (one mutex, no allocation once a group exists) and bounded in
//     memory; failures are grouped by result type ([validate.ResultType]),
//     sending IP, receiving MX, receiving IP and reason code.
//   - [Recorder.SaveFile] and [Recorder.LoadFile] (or Snapshot and
//     Restore) carry the counts across a restart.
//   - [Recorder.Reports] turns a finished day into one [Report] per
//     policy domain, with the field names, date range (00:00:00Z to
//     23:59:59Z), A-label domains and RFC 5952 addresses of RFC 8460
//     section 4.
//   - [Lookup] (or [ParseTXT] on TXT strings found elsewhere) reads the
//     domain's "_smtp._tls" record; [ParseRecord] follows its ABNF
//     strictly and keeps the https and mailto destinations of every rua
//     field.
//   - [Sender.Deliver] gzips the report and POSTs it, or hands a
//     multipart/report message ([Message]) to the caller's mail function,
//     retrying with backoff; once it is accepted, [Recorder.Forget]
//     drops the day.
//
// A daily cycle:
//
//	rec := tlsrpt.NewRecorder(tlsrpt.Options{})
//	rec.LoadFile(path)
//	// per delivery attempt:
//	rec.Record(tlsrpt.Result{Domain: d.Domain, Policy: d.Policy, ResultType: res, ReceivingMX: d.MX, ...})
//	// some hours after midnight UTC (RFC 8460 section 4.1 asks for a delay):
//	reports, _ := rec.Reports(yesterday, tlsrpt.ReportOptions{...})
//	for _, r := range reports { // concurrently, with a bound: Deliver retries for hours
//		dest, err := tlsrpt.Lookup(ctx, dns, r.Domain())
//		switch {
//		case errors.Is(err, tlsrpt.ErrNoRecord), errors.Is(err, tlsrpt.ErrMultipleRecords),
//			errors.As(err, new(*tlsrpt.SyntaxError)):
//			rec.Forget(yesterday, r.Domain()) // nowhere to send it
//		case err != nil:
//			// a temporary DNS failure: keep the counts, try again later
//		case sender.Deliver(ctx, r, dest) == nil:
//			rec.Forget(yesterday, r.Domain()) // only once it was accepted
//		}
//	}
//
// What a session counts as is the caller's to say: RFC 8460 counts as
// successful the sessions that negotiated a policy-compliant TLS
// connection. For no-policy-found, this package counts what it is told;
// the natural choice, and the one the examples make, is TLS negotiated
// (success) versus STARTTLS missing or failed (failure).
//
// Reports sent by mail must carry a DKIM signature of the reporting domain
// (RFC 8460 section 3); signing is left to the caller through
// SenderOptions.Sign, as is the SMTP submission (SenderOptions.Mail), which
// must deliver whatever the receiving side's TLS policy says.
//
// The package starts no goroutine of its own and never panics on input.
package tlsrpt

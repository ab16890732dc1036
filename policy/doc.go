// Package policy is the typed model of an MTA-STS policy (RFC 8461) and the
// strict parsers that turn untrusted input into it.
//
// Two artefacts are parsed here:
//
//   - the "_mta-sts" TXT record (RFC 8461 section 3.1), which announces that a
//     domain has a policy and carries its id: [ParseRecord] parses one record,
//     [ParseTXT] picks the single STSv1 record out of every TXT string found
//     at the name;
//   - the policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt
//     (RFC 8461 section 3.2): [Parse].
//
// Both parsers follow the RFC's ABNF to the letter, including the
// clarifications of errata 6253 (LF or CRLF line ends) and 6285 ("v=STSv1 ;"),
// and never panic, whatever the input. Errors are typed: a [*SyntaxError]
// carries the line and key, and wraps one of the sentinel errors of this
// package (ErrBadMode, ErrBadMX, ...) for use with [errors.Is]. Oddities that
// do not invalidate a policy (unknown keys, a capped max_age, ignored
// duplicates, IP literals in mx) are returned as [Warning] values.
//
// [Policy.String] and [Record.String] render the canonical text, which parses
// back to an equal value.
//
// The package does no I/O and depends only on the standard library.
package policy

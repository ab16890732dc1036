// Package interop proves the project against the servers its users run:
// NSD (authoritative) behind Unbound (recursive) for DNS, nginx serving
// policy files, and a real Postfix reading the socketmap server and
// delivering mail. Every server is started by the tests from configuration
// written under t.TempDir(), listens on 127.0.0.0/8 only, and is stopped by
// its process id when the test ends, even when it fails.
//
// The package holds tests only; see README.md for what runs, the Debian
// packages it needs and how to run it. A test whose server binary is
// missing is skipped, unless the CI environment variable is set, in which
// case it fails.
package interop

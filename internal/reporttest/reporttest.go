// Package reporttest reads TLS reports the way a report's receiver does,
// for tests: a report is sent as gzip-compressed JSON (RFC 8460 section 5),
// over HTTPS or as a mail attachment.
//
// It does not import tlsrpt, so that tlsrpt's own tests can use it.
package reporttest

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// Gunzip returns the JSON inside a gzip-compressed report, and fails the
// test when gz is not a whole gzip stream.
func Gunzip(tb testing.TB, gz []byte) []byte {
	tb.Helper()
	var j []byte
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err == nil {
		j, err = io.ReadAll(zr)
	}
	if err != nil {
		tb.Fatalf("gunzip report: %v", err)
	}
	return j
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
)

// FuzzReadNetstring: any input gives a payload of at most the limit that
// re-encodes to the bytes consumed, or one of the framing errors; never a
// panic.
func FuzzReadNetstring(f *testing.F) {
	for _, s := range []string{"20:postfix example.com,", "0:,", "3:abc,4:defg,", "01:a,", "-1:,", "5:abc", ":,", "99999999999999999999:", "7:postfix"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReader(bytes.NewReader(in))
		buf := make([]byte, MaxRequest)
		consumed := 0
		for {
			p, err := readNetstring(br, buf, MaxRequest)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errMalformed) && !errors.Is(err, errTooLong) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			enc := strconv.Itoa(len(p)) + ":" + string(p) + ","
			if len(p) > MaxRequest || !bytes.HasPrefix(in[consumed:], []byte(enc)) {
				t.Fatalf("payload %q does not re-encode to the input at %d", p, consumed)
			}
			consumed += len(enc)
		}
	})
}

// fixedLookuper answers every domain with one policy, for the fuzz target
// of the answer logic (the resolver's own behaviour is tested against the
// loopback world elsewhere).
type fixedLookuper struct{ p *policy.Policy }

func (l fixedLookuper) Lookup(_ context.Context, d string) (*resolver.Entry, error) {
	switch {
	case strings.HasPrefix(d, "temp"):
		return nil, &resolver.DNSError{Name: "_mta-sts." + d, Type: "TXT", Temporary: true, Err: errors.New("server failure\r\nwith a newline")}
	case strings.HasPrefix(d, "none"):
		return nil, nil
	}
	return &resolver.Entry{Domain: d, Policy: l.p}, nil
}

// FuzzAnswer: whatever the request, the reply is one of the three kinds,
// one line, within Postfix's limit.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{"postfix example.com", "postfix [192.0.2.1]:25", "x temp.example", "postfix none.example.", "postfix", "", " ", "postfix .example.com", "postfix EXAMPLE.com:25"} {
		f.Add(s, false)
	}
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400, MX: []string{"mx1.example.com", "*.example.net"},
		Extensions: []policy.Extension{{Key: "x", Value: "y"}}}
	f.Fuzz(func(t *testing.T, req string, tlsrpt bool) {
		s := &Server{Lookuper: fixedLookuper{p}, Log: quietLog(), TLSRPT: tlsrpt}
		var buf answerBuf
		reply := string(s.answer(context.Background(), []byte(req), &buf))
		ok := strings.HasPrefix(reply, "OK secure match=") || reply == "NOTFOUND " || strings.HasPrefix(reply, "TEMP ") && len(reply) > len("TEMP ")
		if !ok || len(reply) > MaxReply || strings.ContainsAny(reply, "\r\n\x00") {
			t.Fatalf("%q: reply %q", req, reply)
		}
	})
}

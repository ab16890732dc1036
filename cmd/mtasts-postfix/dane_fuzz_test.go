package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
)

// fixedDANE answers by the domain's first label: "all" every MX host
// DANE-secure, "some" some, "fail" a failed MX lookup, others no DANE.
type fixedDANE struct{}

func (fixedDANE) DANELevel(_ context.Context, d string) (DANELevel, error) {
	switch {
	case strings.HasPrefix(d, "all"):
		return DANEAllHosts, nil
	case strings.HasPrefix(d, "some"):
		return DANEPerHost, nil
	case strings.HasPrefix(d, "fail"):
		return DANENotApplicable, errors.New("dns: MX lookup failed\r\nwith a newline")
	}
	return DANENotApplicable, nil
}

// FuzzAnswerDANE: with -dane, whatever the request, the reply is one of
// the kinds of the reply table, one line, within Postfix's limit.
func FuzzAnswerDANE(f *testing.F) {
	for _, s := range []string{"postfix all.example", "postfix some.example.", "postfix fail.example:25", "postfix [all.example]",
		"postfix temp.example", "postfix none.example", "postfix example.com", "postfix .all.example", ""} {
		f.Add(s, false)
	}
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400, MX: []string{"mx1.example.com", "*.example.net"}}
	f.Fuzz(func(t *testing.T, req string, tlsrpt bool) {
		s := &Server{Lookuper: fixedLookuper{p}, Log: quietLog(), TLSRPT: tlsrpt, DANE: fixedDANE{}}
		var buf answerBuf
		reply := string(s.answer(context.Background(), []byte(req), &buf))
		ok := reply == "OK dane-only" || reply == "OK dane" || strings.HasPrefix(reply, "OK secure match=") ||
			reply == "NOTFOUND " || strings.HasPrefix(reply, "TEMP ") && len(reply) > len("TEMP ")
		if !ok || len(reply) > MaxReply || strings.ContainsAny(reply, "\r\n\x00") {
			t.Fatalf("%q: reply %q", req, reply)
		}
		_, key, _ := strings.Cut(req, " ")
		d, err := resolver.Normalize(key)
		if err != nil {
			return
		}
		if strings.HasPrefix(d, "all") && reply != "OK dane-only" || strings.HasPrefix(d, "some") && reply != "OK dane" {
			t.Fatalf("%q: reply %q, DANE overridden", req, reply)
		}
	})
}

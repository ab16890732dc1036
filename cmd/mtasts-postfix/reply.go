package main

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/resolver"
)

// The replies that carry no data. socketmap_table(5) writes them
// "NOTFOUND <space>" and "TEMP <space> reason": the space is always there.
// NOTFOUND carries no reason (the reason of a failure goes to the log, as
// postfix-mta-sts-resolver does); TEMP says why, in one short line that
// Postfix logs with the deferral.
var (
	replyNotFound = []byte("NOTFOUND ")
	replyTooLarge = []byte("TEMP MTA-STS policy too large for a socketmap reply")
	replyNoMatch  = []byte("TEMP MTA-STS policy lists no MX host Postfix can match")
	replyClosed   = []byte("TEMP MTA-STS lookup interrupted, try again later")
)

// maxReason bounds the reason of a TEMP reply, so that it stays one short
// line well within what Postfix logs and what a netstring reader accepts.
const maxReason = 200

// answerBuf is what a connection keeps from one answer to the next.
type answerBuf struct {
	reply []byte // an OK reply is built here
	key   string // the last key, so that a repeated one costs no allocation
}

// answer returns the reply payload for one request payload ("<map> <key>").
func (s *Server) answer(ctx context.Context, req []byte, buf *answerBuf) []byte {
	name, key, _ := bytes.Cut(req, []byte{' '})
	if string(name) != s.mapName() && s.warnedMap.CompareAndSwap(false, true) {
		// As postfix-mta-sts-resolver does, answer anyway: refusing would
		// make Postfix defer all mail over a naming mismatch in main.cf.
		s.log().Warn("request for another map name, answered as -map's", "map", string(name), "want", s.mapName())
	}
	reply := s.lookupReply(ctx, key, buf)
	s.Metrics.answered(reply)
	return reply
}

func (s *Server) lookupReply(ctx context.Context, key []byte, buf *answerBuf) []byte {
	// Postfix's next hop may be "[host]", "[host]:port" or "host:port": the
	// policy domain is the host (as postfix-mta-sts-resolver takes it).
	// Parent-domain patterns (".example.com"), address literals and other
	// keys that are no domain are refused by the checks below and by
	// Normalize (an all-numeric top label, brackets, colons).
	if i := bytes.IndexByte(key, ']'); i >= 0 {
		key = bytes.TrimLeft(key[:i], "[")
	} else if i := bytes.LastIndexByte(key, ':'); i >= 0 {
		key = key[:i]
	}
	if len(key) == 0 || key[0] == '.' {
		return replyNotFound
	}
	if string(key) != buf.key {
		buf.key = string(key)
	}
	domain, err := resolver.Normalize(buf.key)
	if err != nil {
		s.log().Debug("not a domain", "key", string(key), "err", err)
		return replyNotFound
	}
	override := s.override(domain)
	if override == resolver.Skip {
		s.log().Debug("answer", "domain", domain, "reply", "NOTFOUND", "why", "skipped by -overrides")
		return replyNotFound
	}
	if s.DANE != nil {
		if reply, ok := s.daneReply(ctx, domain, buf); ok {
			return reply
		}
	}
	e, err := s.Lookuper.Lookup(ctx, domain)
	if e != nil && e.Policy != nil {
		// A policy is in effect, whatever else went wrong: never downgrade.
		s.grace().succeeded(domain)
		s.Metrics.served(e.Source)
		return s.policyReply(domain, e, override == resolver.ForceEnforce, buf)
	}
	var fe *resolver.FetchError
	var de *resolver.DNSError
	switch {
	case err == nil:
		s.grace().succeeded(domain)
		if s.debug() {
			s.log().Debug("answer", "domain", domain, "reply", "NOTFOUND", "why", "no policy")
		}
		return replyNotFound
	case errors.As(err, &fe):
		// The record is there but the policy could not be fetched: deliver
		// without MTA-STS (RFC 8461 section 3.3), never defer. Logged once
		// per fetch by the resolver's FetchFailed event.
		s.grace().succeeded(domain)
		s.log().Debug("answer", "domain", domain, "reply", "NOTFOUND", "why", "fetch failed", "result", fe.Result(), "err", err)
		return replyNotFound
	case errors.As(err, &de) && !de.Temporary:
		// The DNS is known to be broken for the name (a CNAME loop): it has
		// no usable record, which is no policy.
		s.log().Debug("answer", "domain", domain, "reply", "NOTFOUND", "why", "lookup failed for good", "err", err)
		return replyNotFound
	case errors.As(err, &de):
		s.Metrics.dnsFailed()
		temp, first := s.grace().failed(domain)
		if first {
			s.log().Info("_mta-sts lookup failed temporarily", "domain", domain, "err", err, "answer", answerName(temp))
		} else {
			s.log().Debug("answer", "domain", domain, "reply", answerName(temp), "why", "lookup failed temporarily", "err", err)
		}
		if !temp {
			return replyNotFound
		}
		return tempReply(buf, "MTA-STS: ", de.Error())
	}
	var dm *resolver.DomainError
	if errors.As(err, &dm) {
		return replyNotFound
	}
	// A closed resolver (shutting down), a deadline: whether a policy
	// exists is unknown, so Postfix should try again later.
	s.log().Warn("lookup failed", "domain", domain, "err", err)
	return replyClosed
}

func answerName(temp bool) string {
	if temp {
		return "TEMP"
	}
	return "NOTFOUND"
}

// tempReply returns "TEMP " and the reason, on one line of at most
// maxReason bytes: control characters become spaces.
func tempReply(buf *answerBuf, prefix, reason string) []byte {
	b := append(buf.reply[:0], "TEMP "...)
	b = append(b, prefix...)
	for i := 0; i < len(reason) && len(b) < len("TEMP ")+maxReason; i++ {
		c := reason[i]
		if c < ' ' || c == 0x7f {
			c = ' '
		}
		b = append(b, c)
	}
	buf.reply = b
	return b
}

// policyReply returns the reply for the policy in effect e: NOTFOUND for
// mode none, and for testing unless StrictTesting or forced; else "OK
// secure match=... servername=hostname", with the TLSRPT attributes when
// TLSRPT is set.
func (s *Server) policyReply(domain string, e *resolver.Entry, forced bool, scratch *answerBuf) []byte {
	p := e.Policy
	switch {
	case p.Mode == policy.ModeEnforce:
	case p.Mode == policy.ModeTesting && (s.StrictTesting || forced):
	default:
		if s.debug() {
			s.log().Debug("answer", "domain", domain, "reply", "NOTFOUND", "mode", p.Mode.String())
		}
		return replyNotFound
	}
	if len(p.MX) == 0 {
		// Cannot happen for a valid policy; "match=" with no pattern would
		// be a Postfix syntax error, so say nothing rather than that.
		return replyNotFound
	}
	buf := append(scratch.reply[:0], "OK secure match="...)
	n := 0
	for _, mx := range p.MX {
		if !matchable(mx) {
			continue
		}
		if n > 0 {
			buf = append(buf, ':')
		}
		n++
		// Postfix writes "any subdomain of x" as ".x": see the package
		// comment for how that differs from MTA-STS's one-label wildcard.
		buf = append(buf, strings.TrimPrefix(mx, "*")...)
	}
	if n == 0 {
		// Under enforce no MX host could pass such a policy: defer, as a
		// sender refusing every MX host would, rather than downgrade.
		s.log().Error("policy lists no MX host Postfix can match", "domain", domain, "mx", p.MX)
		scratch.reply = buf
		return replyNoMatch
	}
	buf = append(buf, " servername=hostname"...)
	if s.TLSRPT {
		withAttrs := appendTLSRPT(buf, domain, p)
		if len(withAttrs) <= MaxReply {
			buf = withAttrs
		} else {
			// The policy still applies; only its report attributes go.
			s.log().Warn("TLSRPT attributes left out: the reply would be too large", "domain", domain)
		}
	}
	scratch.reply = buf
	if len(buf) > MaxReply {
		// A policy Postfix cannot take in: defer rather than downgrade.
		s.log().Error("policy too large for a socketmap reply", "domain", domain, "bytes", len(buf))
		return replyTooLarge
	}
	if s.debug() {
		s.log().Debug("answer", "domain", domain, "reply", string(buf), "source", e.Source.String())
	}
	return buf
}

// matchable reports whether the mx pattern can go into a match= list: an
// exact name of a single label (such as "hostname" or "nexthop") would be
// read by Postfix as one of its keywords, which match far more than the
// policy allows, and names no host anyway (RFC 5321 section 2.3.5 wants
// fully qualified names). A wildcard, written ".x", is never a keyword.
func matchable(mx string) bool {
	return strings.HasPrefix(mx, "*.") || strings.Contains(mx, ".")
}

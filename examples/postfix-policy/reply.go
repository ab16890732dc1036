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
// "NOTFOUND <space>" and "TEMP <space> reason": the space is always there,
// the reason is optional; the reason of a failure goes to the log instead,
// as postfix-mta-sts-resolver does.
var (
	replyNotFound = []byte("NOTFOUND ")
	replyTemp     = []byte("TEMP ")
	replyTooLarge = []byte("TEMP policy too large for a socketmap reply")
	replyNoMatch  = []byte("TEMP policy lists no MX host Postfix can match")
)

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
	e, err := s.Lookuper.Lookup(ctx, domain)
	if e != nil && e.Policy != nil {
		// A policy is in effect, whatever else went wrong: never downgrade.
		return s.policyReply(domain, e.Policy, buf)
	}
	var fe *resolver.FetchError
	var de *resolver.DNSError
	switch {
	case err == nil:
		return replyNotFound // no record
	case errors.As(err, &fe):
		// The record is there but the policy could not be fetched: deliver
		// without MTA-STS (RFC 8461 section 3.3, DESIGN §5), never defer.
		// Logged once per fetch by the resolver's FetchFailed event.
		s.log().Debug("no policy: fetch failed", "domain", domain, "result", fe.Result(), "err", err)
		return replyNotFound
	case errors.As(err, &de) && !de.Temporary:
		// The DNS is known to be broken for the name (a CNAME loop): it has
		// no usable record, which is no policy.
		s.log().Info("_mta-sts lookup failed", "domain", domain, "err", err)
		return replyNotFound
	case errors.As(err, &de):
		s.log().Warn("_mta-sts lookup failed temporarily", "domain", domain, "err", err)
		return replyTemp
	}
	var dm *resolver.DomainError
	if errors.As(err, &dm) {
		return replyNotFound
	}
	// A closed resolver (shutting down), a deadline: whether a policy
	// exists is unknown, so Postfix should try again later.
	s.log().Warn("lookup failed", "domain", domain, "err", err)
	return replyTemp
}

// policyReply returns the reply for a policy in effect: NOTFOUND for mode
// none, and for testing unless StrictTesting; else "OK secure match=...
// servername=hostname".
func (s *Server) policyReply(domain string, p *policy.Policy, scratch *answerBuf) []byte {
	switch {
	case p.Mode == policy.ModeEnforce:
	case p.Mode == policy.ModeTesting && s.StrictTesting:
	default:
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
		return replyNoMatch
	}
	buf = append(buf, " servername=hostname"...)
	scratch.reply = buf
	if len(buf) > MaxReply {
		// A policy Postfix cannot take in: defer rather than downgrade.
		s.log().Error("policy too large for a socketmap reply", "domain", domain, "bytes", len(buf))
		return replyTooLarge
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

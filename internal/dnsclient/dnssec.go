package dnsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/dane"
)

// WithDNSSEC returns a copy of c that trusts its servers to validate
// DNSSEC, as Postfix does with smtp_dns_support_level = dnssec: every query
// sets the DO bit (EDNS0) and the AD bit (RFC 6840 section 5.7), never CD,
// and LookupSecure reports the AD bit of the answers. The library checks
// no signature itself: use it only with servers that validate and are
// reached over a trusted path, normally a resolver on the same host.
func (c *Client) WithDNSSEC() *Client {
	cp := *c
	cp.servers = c.servers // read only: safe to share
	cp.dnssec = true
	return &cp
}

// DNSSEC reports whether c was made by WithDNSSEC.
func (c *Client) DNSSEC() bool { return c.dnssec }

// servFail returns the error of a SERVFAIL answer: ErrServFail, and
// ErrBogus too when an Extended DNS Error says why DNSSEC failed.
func servFail(msg *dns.Msg) error {
	opt := msg.IsEdns0()
	if opt == nil {
		return ErrServFail
	}
	for _, o := range opt.Option {
		ede, ok := o.(*dns.EDNS0_EDE)
		if !ok {
			continue
		}
		if ede.InfoCode >= dns.ExtendedErrorCodeDNSBogus && ede.InfoCode <= dns.ExtendedErrorCodeNSECMissing {
			return fmt.Errorf("%w: %w (extended error %d, %s)", ErrServFail, ErrBogus, ede.InfoCode,
				dns.ExtendedErrorCodeToString[ede.InfoCode])
		}
	}
	return ErrServFail
}

// TLSA is the outcome of a TLSA lookup (Client.TLSA).
type TLSA struct {
	// Records are the TLSA records found, in the order of the answer.
	Records []dane.Record
	// Secure is true when the answer, or the denial, was validated by
	// DNSSEC all along its CNAME chain.
	Secure bool
	// TTL is the least time to live of the records, 0 if none.
	TTL uint32
}

// TLSA looks up the TLSA records of the SMTP server host (its TLSA base
// domain): type TLSA at _25._tcp.<host>., following CNAMEs (RFC 7672
// section 2.2.3). A name without TLSA records gives none and no error.
// A record whose data is not hexadecimal, which the wire cannot carry, is
// skipped.
func (c *Client) TLSA(ctx context.Context, host string) (TLSA, error) {
	name := "_25._tcp." + strings.TrimSuffix(host, ".")
	a, err := c.lookup(ctx, name, dns.TypeTLSA)
	if err != nil {
		return TLSA{}, err
	}
	out := TLSA{Secure: a.Secure, Records: make([]dane.Record, 0, len(a.RRs))}
	for _, rr := range a.RRs {
		if t, ok := rr.(*dns.TLSA); ok {
			if r, err := dane.FromRR(t); err == nil {
				if len(out.Records) == 0 || t.Hdr.Ttl < out.TTL {
					out.TTL = t.Hdr.Ttl
				}
				out.Records = append(out.Records, r)
			}
		}
	}
	return out, nil
}

// IsBogus reports whether err is the failure of a lookup that a validating
// server could not validate: a SERVFAIL (RFC 4035 section 5.5 gives bogus
// and indeterminate answers that code), with or without an Extended DNS
// Error.
func IsBogus(err error) bool { return errors.Is(err, ErrServFail) }

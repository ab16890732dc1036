package mtaststest

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// Bogus makes the world's DNS server answer queries for a name as a
// validating resolver answers a bogus one: SERVFAIL with the Extended DNS
// Error code given (RFC 8914); Bogus(0) means DNSSEC Bogus (6). A fault
// for World.Fault:
//
//	w.Fault("_25._tcp.mx1.example.test", mtaststest.Bogus(0)) // the TLSA lookup is bogus
type Bogus = testserver.Bogus

// SetSecure marks zone (a name and every name below it) as DNSSEC-signed,
// or, with secure false, unsigned: the world's DNS server then plays a
// validating resolver, setting the AD bit on answers about secure names to
// queries that ask for DNSSEC (resolver.Options.DNSSEC). The most specific
// zone given wins: SetSecure("test", true) then
// SetSecure("unsigned.test", false) is an insecure delegation.
func (w *World) SetSecure(zone string, secure bool) { w.w.SetSecure(zone, secure) }

// SetTLSA replaces the TLSA records of the MX host host, at
// _25._tcp.<host>, with records in presentation form ("3 1 1 0c72..."); no
// records removes them.
func (w *World) SetTLSA(host string, records ...string) {
	if err := w.w.SetTLSA(host, records...); err != nil {
		w.fail(err)
	}
}

// TLSA returns the DANE-EE TLSA record ("3 1 1 <sha-256 of the public
// key>") that matches the certificate the world presents for host, for
// World.SetTLSA.
func (w *World) TLSA(host string) string {
	c, err := w.w.Certificate(host, 0)
	if err != nil {
		w.fail(err)
		return ""
	}
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}

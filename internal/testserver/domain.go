package testserver

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// Policy is an MTA-STS policy as the world publishes it.
type Policy struct {
	// Mode is written as given: "enforce", "testing", "none" or anything
	// else a test needs.
	Mode string
	// MX are the mx lines in order, patterns ("*.example.test") included.
	MX []string
	// MaxAge is written as given, 0 included.
	MaxAge int
	// ID is the id of the TXT record; empty means a fresh random one.
	ID string
}

// String renders the policy file: version, mode, mx lines and max_age, each
// line ending in CRLF.
func (p Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: ")
	b.WriteString(p.Mode)
	b.WriteString("\r\n")
	for _, mx := range p.MX {
		b.WriteString("mx: ")
		b.WriteString(mx)
		b.WriteString("\r\n")
	}
	b.WriteString("max_age: ")
	b.WriteString(strconv.Itoa(p.MaxAge))
	b.WriteString("\r\n")
	return b.String()
}

// AddDomain publishes domain as a whole MTA-STS domain and returns the
// policy id: the TXT record _mta-sts.<domain> "v=STSv1; id=<id>", the A (or
// AAAA) record of mta-sts.<domain> pointing at the world, the policy file
// served there, MX records for the MX hosts of p that are not patterns (in
// the order given), their address records, and an SMTP server for each
// (see [World.AddSMTPHost]). Calling it again republishes everything.
func (w *World) AddDomain(domain string, p Policy) (string, error) {
	var hosts []string
	for _, mx := range p.MX {
		if !strings.HasPrefix(mx, "*") {
			hosts = append(hosts, mx)
		}
	}
	for _, h := range hosts {
		if _, err := w.AddSMTPHost(h); err != nil {
			return "", err
		}
		w.SetAddrs(h, w.ip)
	}
	w.SetAddrs("mta-sts."+canon(domain), w.ip)
	w.SetMX(domain, hosts...)
	return w.SetPolicy(domain, p), nil
}

// SetPolicy publishes a new policy for domain and returns its id: the TXT
// record _mta-sts.<domain> gets the id and the policy file becomes p. The
// MX and address records are left alone, so a test can make the policy and
// the MX records disagree; [World.AddDomain] sets both.
func (w *World) SetPolicy(domain string, p Policy) string {
	id := p.ID
	if id == "" {
		id = freshID()
	}
	d := canon(domain)
	w.SetTXT("_mta-sts."+d, "v=STSv1; id="+id)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids[d] = id
	w.bodies["mta-sts."+d] = p.String()
	return id
}

// SetPolicyBody replaces the policy file of domain with body, as is, leaving
// the TXT record alone: the way to serve an invalid or unusual policy.
func (w *World) SetPolicyBody(domain, body string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bodies["mta-sts."+canon(domain)] = body
}

// RemovePolicy removes the TXT record _mta-sts.<domain> and the policy file
// (the HTTPS server answers 404); the other records stay.
func (w *World) RemovePolicy(domain string) {
	d := canon(domain)
	w.SetTXT("_mta-sts." + d)
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.ids, d)
	delete(w.bodies, "mta-sts."+d)
}

// ID returns the policy id last published for domain by [World.AddDomain]
// or [World.SetPolicy], or "" when there is none.
func (w *World) ID(domain string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ids[canon(domain)]
}

// SetTLSRPT replaces the TLS-RPT record _smtp._tls.<domain> with record, for
// example "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"; an empty record
// removes it.
func (w *World) SetTLSRPT(domain, record string) {
	name := "_smtp._tls." + canon(domain)
	if record == "" {
		w.SetTXT(name)
		return
	}
	w.SetTXT(name, record)
}

// freshID returns a random policy id: 20 alphanumeric characters.
func freshID() string {
	var b [10]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

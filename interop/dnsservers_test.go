package interop

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testDNSServers pins what the real servers answer, with a few lines of
// miekg/dns: the facts the project's DNS client must handle.
func testDNSServers(t *testing.T, w *dnsWorld) {
	t.Run("tab is one raw byte on the wire", func(t *testing.T) {
		q := new(dns.Msg)
		q.SetQuestion("_mta-sts.tab.test.", dns.TypeTXT)
		raw := exchangeRaw(t, w.unbound, q)
		want := append([]byte{byte(len("v=STSv1;\tid=tab1"))}, "v=STSv1;\tid=tab1"...)
		if !bytes.Contains(raw, want) {
			t.Errorf("answer %q does not hold the character-string %q", raw, want)
		}
		// miekg/dns keeps strings in presentation format: the tab comes
		// back as \009, which is what a client must decode.
		m := new(dns.Msg)
		if err := m.Unpack(raw); err != nil {
			t.Fatal(err)
		}
		if len(m.Answer) != 1 || m.Answer[0].(*dns.TXT).Txt[0] != `v=STSv1;\009id=tab1` {
			t.Errorf("miekg/dns presents %v; want the string v=STSv1;\\009id=tab1", m.Answer)
		}
	})
	for _, srv := range []struct{ name, addr string }{{"unbound", w.unbound}, {"nsd", w.nsd}} {
		t.Run("RRset over 1232 bytes is truncated over UDP by "+srv.name, func(t *testing.T) {
			m, err := query(srv.addr, "udp", "_mta-sts.big.test", dns.TypeTXT, 1232)
			if err != nil || !m.Truncated {
				t.Fatalf("UDP: %v, %v; want a truncated answer", m, err)
			}
			m, err = query(srv.addr, "tcp", "_mta-sts.big.test", dns.TypeTXT, 1232)
			if err != nil || m.Truncated || len(m.Answer) != 1+len(bigFiller()) {
				t.Fatalf("TCP: %v, %v; want %d records", m, err, 1+len(bigFiller()))
			}
		})
	}
	t.Run("lame delegation is SERVFAIL from unbound", func(t *testing.T) {
		m, err := query(w.unbound, "udp", "_mta-sts.lame.test", dns.TypeTXT, 1232)
		if err != nil || m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("got %v, %v; want SERVFAIL", m, err)
		}
	})
	t.Run("delegation back to the parent's server is NODATA from unbound", func(t *testing.T) {
		// A fact of Unbound 1.17, which no client can see through: the
		// name's lookups end in NOERROR with no answer, as if there were
		// no record, where a delegation to a refusing server is SERVFAIL.
		m, err := query(w.unbound, "udp", "_mta-sts.selfref.test", dns.TypeTXT, 1232)
		if err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
			t.Fatalf("got %v, %v; want NOERROR and no answer", m, err)
		}
	})
	t.Run("delegated name is a referral from nsd", func(t *testing.T) {
		m, err := query(w.nsd, "udp", "_mta-sts.lame.test", dns.TypeTXT, 1232)
		if err != nil || m.Rcode != dns.RcodeSuccess || m.Authoritative || len(m.Answer) != 0 || len(m.Ns) == 0 {
			t.Fatalf("got %v, %v; want NOERROR, not authoritative, no answer, NS records in authority", m, err)
		}
		if _, ok := m.Ns[0].(*dns.NS); !ok {
			t.Errorf("authority %v; want NS records", m.Ns)
		}
	})
	t.Run("NXDOMAIN and NODATA", func(t *testing.T) {
		m, err := query(w.unbound, "udp", "_mta-sts.absent.test", dns.TypeTXT, 1232)
		if err != nil || m.Rcode != dns.RcodeNameError {
			t.Errorf("absent: %v, %v; want NXDOMAIN", m, err)
		}
		m, err = query(w.unbound, "udp", "_mta-sts.nodata.test", dns.TypeTXT, 1232)
		if err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
			t.Errorf("nodata: %v, %v; want NOERROR and no answer", m, err)
		}
	})
	t.Run("CNAME to another zone comes with its target", func(t *testing.T) {
		m, err := query(w.unbound, "udp", "_mta-sts.cname-out.test", dns.TypeTXT, 1232)
		if err != nil || len(m.Answer) != 2 {
			t.Fatalf("got %v, %v; want the CNAME and the TXT record", m, err)
		}
	})
	t.Run("names outside the test zones are refused", func(t *testing.T) {
		// So no query leaves the machine.
		m, err := query(w.unbound, "udp", "example.com", dns.TypeA, 1232)
		if err != nil || m.Rcode != dns.RcodeRefused {
			t.Fatalf("got %v, %v; want REFUSED", m, err)
		}
	})
}

// exchangeRaw sends q to server over UDP and returns the answer's bytes as
// they came.
func exchangeRaw(t *testing.T, server string, q *dns.Msg) []byte {
	t.Helper()
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

package resolver

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtasts-go/mtasts/internal/testserver"
)

// benchWorld starts a world with one enforce domain and a resolver on it.
func benchWorld(b *testing.B) (*testserver.World, *Resolver) {
	w, r := newTest(b)
	if _, err := w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX, "*.mx.example.test", "backup.example.test"}, MaxAge: 86400}); err != nil {
		b.Fatal(err)
	}
	return w, r
}

// BenchmarkCheckCacheHit is the hot path: the verdict for a cached policy.
func BenchmarkCheckCacheHit(b *testing.B) {
	_, r := benchWorld(b)
	ctx := context.Background()
	if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Action != Deliver {
		b.Fatal(d, err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, _ := r.Check(ctx, domain, goodMX); d.Action != Deliver {
				b.Fatal(d)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if d, _ := r.Check(ctx, domain, goodMX); d.Action != Deliver {
					b.Error(d)
					return
				}
			}
		})
	})
}

// BenchmarkColdLookup measures a whole discovery on loopback (TXT, A/AAAA,
// a fresh TLS connection, GET, parse) beside its floor: the same DNS
// queries and a plain net/http GET over a fresh TLS connection.
func BenchmarkColdLookup(b *testing.B) {
	w, r := benchWorld(b)
	ctx := context.Background()
	b.Run("resolver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.cache.Delete(ctx, domain)
			e, err := r.Lookup(ctx, domain)
			if err != nil || e == nil || e.Source != SourceFetched {
				b.Fatal(e, err)
			}
		}
	})
	floor := func(b *testing.B, curves []tls.CurveID) {
		c := new(dns.Client)
		tr := &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: w.RootCAs(), MinVersion: tls.VersionTLS12, CurvePreferences: curves},
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(w.HTTPSPort())))
			},
		}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		q := func(name string, t uint16) {
			m := new(dns.Msg)
			m.SetQuestion(name, t)
			if _, _, err := c.Exchange(m, w.DNSAddr()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			q("_mta-sts."+domain+".", dns.TypeTXT)
			q("mta-sts."+domain+".", dns.TypeA)
			resp, err := client.Get("https://mta-sts." + domain + "/.well-known/mta-sts.txt")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	// The floor with Go's default key exchange (a post-quantum hybrid),
	// and with the classical curves the resolver uses for public policy
	// files.
	b.Run("floor", func(b *testing.B) { floor(b, nil) })
	b.Run("floor-classical", func(b *testing.B) { floor(b, []tls.CurveID{tls.X25519, tls.CurveP256}) })
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := normalizeASCII("mx1.mail.example.com"); !ok {
			b.Fatal("not normal")
		}
	}
}

// BenchmarkCheckCacheHitDANE is the hot path with DANE on (Options.DNSSEC)
// and the host's DANE status cached, beside the same Check with DANE off.
func BenchmarkCheckCacheHitDANE(b *testing.B) {
	for _, on := range []bool{false, true} {
		w, r := newTest(b, func(o *Options) { o.DNSSEC = on })
		w.SetSecure("test", true)
		if _, err := w.AddDomain(domain, testserver.Policy{Mode: "enforce", MX: []string{goodMX}, MaxAge: 86400}); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if d, err := r.Check(ctx, domain, goodMX); err != nil || d.Action != Deliver {
			b.Fatal(d, err)
		}
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d, _ := r.Check(ctx, domain, goodMX); d.Action != Deliver {
					b.Fatal(d)
				}
			}
		})
	}
}

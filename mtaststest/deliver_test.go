package mtaststest_test

import (
	"errors"
	"net"
	"testing"

	"github.com/mtasts-go/mtasts/mtaststest"
	"github.com/mtasts-go/mtasts/resolver"
	"github.com/mtasts-go/mtasts/tlsrpt"
)

// TestREADMEDeliver checks the README's delivery code (readme_example_test.go)
// rule by rule: which failures keep the message queued, which bounce it,
// and when plaintext is allowed.
func TestREADMEDeliver(t *testing.T) {
	w := mtaststest.NewWorld(t)
	w.AddDomain("enforce.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx.enforce.test"}, MaxAge: 86400})
	w.Fault("mx.enforce.test", mtaststest.NoSTARTTLS)
	w.AddDomain("testing.test", mtaststest.Policy{Mode: "testing", MX: []string{"mx.testing.test"}, MaxAge: 86400})
	w.Fault("mx.testing.test", mtaststest.NoSTARTTLS)
	w.AddDomain("servfail.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx.servfail.test"}, MaxAge: 86400})
	w.Fault("_mta-sts.servfail.test", mtaststest.ServFail)
	w.AddDomain("mismatch.test", mtaststest.Policy{Mode: "enforce", MX: []string{"mx.mismatch.test"}, MaxAge: 86400})
	w.AddMXHost("mx.evil.test")
	w.SetMX("mismatch.test", "mx.evil.test")
	m := &mta{r: w.Resolver(), rec: tlsrpt.NewRecorder(tlsrpt.Options{}), dial: w.DialContext, hostname: "mta.origin.test"}

	for _, tc := range []struct {
		name, domain string
		queued       bool   // the error keeps the message queued
		delivered    string // the MX host that got it, "" for none
		tls          bool
	}{
		{"enforce_no_starttls_never_plaintext", "enforce.test", true, "", false},
		{"testing_no_starttls_plaintext", "testing.test", false, "mx.testing.test", false},
		{"txt_servfail_defers", "servfail.test", true, "", false},
		{"mismatch_refused_never_bounced", "mismatch.test", true, "", false},
		{"not_a_domain_bounces", "bad..test", false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t)
			mxs, _ := w.LookupMX(ctx, tc.domain)
			if len(mxs) == 0 {
				mxs = []*net.MX{{Host: tc.domain}}
			}
			err := m.deliver(ctx, tc.domain, mxs, "a@origin.test", "b@"+tc.domain, []byte("Subject: t\r\n\r\nbody\r\n"))
			switch {
			case tc.delivered != "" && err != nil:
				t.Fatalf("deliver: %v", err)
			case tc.delivered == "" && err == nil:
				t.Fatal("delivered")
			case err != nil && errors.Is(err, errTryLater) != tc.queued:
				t.Fatalf("deliver: %v; queued = %v, want %v", err, errors.Is(err, errTryLater), tc.queued)
			}
			var de *resolver.DomainError
			if tc.name == "not_a_domain_bounces" && !errors.As(err, &de) {
				t.Errorf("err %v, want a *resolver.DomainError", err)
			}
			if tc.delivered != "" {
				msgs := w.Messages(tc.delivered)
				if len(msgs) != 1 || msgs[0].TLS != tc.tls {
					t.Errorf("messages of %s: %+v", tc.delivered, msgs)
				}
			}
		})
	}
	for _, h := range []string{"mx.enforce.test", "mx.evil.test"} {
		if n := len(w.Messages(h)); n != 0 {
			t.Errorf("%s got %d messages", h, n)
		}
	}
}

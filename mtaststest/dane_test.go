package mtaststest_test

import (
	"context"
	"testing"

	"github.com/mtasts-go/mtasts/mtaststest"
	"github.com/mtasts-go/mtasts/resolver"
)

// TestDANE switches DANE on against the world: a secure zone, a TLSA
// record of the MX host, and a bogus one.
func TestDANE(t *testing.T) {
	w := mtaststest.NewWorld(t)
	w.AddDomain("example.test", mtaststest.Policy{Mode: "testing", MX: []string{"mx1.example.test", "mx2.example.test"}, MaxAge: 86400})
	w.SetSecure("example.test", true)
	w.SetTLSA("mx1.example.test", w.TLSA("mx1.example.test"))
	w.SetTLSA("mx2.example.test", w.TLSA("mx2.example.test"))
	w.Fault("_25._tcp.mx2.example.test", mtaststest.Bogus(0))
	opts := w.ResolverOptions()
	opts.DNSSEC = true
	r, err := resolver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	d, err := r.Check(ctx, "example.test", "mx1.example.test")
	if err != nil || d.DANEStatus != resolver.DANESecure || !d.RequireTLS || d.DANE.PolicyStrings()[0] == "" {
		t.Errorf("mx1: %+v, %v", d, err)
	}
	d, err = r.Check(ctx, "example.test", "mx2.example.test")
	if err != nil || d.DANEStatus != resolver.DANEBogus || d.Action != resolver.Refuse || d.Result != "dnssec-invalid" {
		t.Errorf("mx2: %+v, %v", d, err)
	}
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestDANEFlag: with -dane each mx object carries dane and tlsa, and the
// action follows DANE's precedence (a bogus TLSA lookup refuses the host,
// usable records deliver under a testing policy too); without it neither
// key appears. The exit status stays that of the policy.
func TestDANEFlag(t *testing.T) {
	bin := cmdtest.Build(t, "lookup")
	w, base := cmdtest.World(t)
	hosts := []string{"secure.dane.test", "unusable.dane.test", "bogus.dane.test", "plain.dane.test", "nodata.dane.test"}
	cmdtest.AddDomain(t, w, "dane.test", testserver.Policy{Mode: "testing", MX: hosts, MaxAge: 86400, ID: "d1"})
	w.SetSecure("dane.test", true)
	w.SetSecure("plain.dane.test", false)
	w.SetSecure("_25._tcp.plain.dane.test", false)
	c, err := w.Certificate("secure.dane.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	ee := "3 1 1 " + hex.EncodeToString(sum[:])
	for h, recs := range map[string][]string{
		"secure.dane.test":   {ee},
		"unusable.dane.test": {"1 1 1 " + hex.EncodeToString(sum[:])},
		"bogus.dane.test":    {ee},
		"plain.dane.test":    {ee},
	} {
		if err := w.SetTLSA(h, recs...); err != nil {
			t.Fatal(err)
		}
	}
	w.Fault("_25._tcp.bogus.dane.test", testserver.Bogus(0))

	type mx struct {
		Host   string    `json:"host"`
		Action string    `json:"action"`
		Result string    `json:"result"`
		DANE   *string   `json:"dane"`
		TLSA   *[]string `json:"tlsa"`
	}
	run := func(extra ...string) (int, []mx) {
		t.Helper()
		args := append(cmdtest.Args(base, "-timeout", "3s", "-json"), extra...)
		code, stdout, stderr := cmdtest.Run(t, bin, append(args, "dane.test")...)
		var o struct {
			MX []mx `json:"mx"`
		}
		if err := json.Unmarshal(stdout, &o); err != nil {
			t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
		}
		return code, o.MX
	}
	code, mxs := run("-dane")
	want := map[string][2]string{ // host → dane, action
		"secure.dane.test":   {"secure", "deliver"},
		"unusable.dane.test": {"unusable", "deliver"},
		"bogus.dane.test":    {"bogus", "refuse"},
		"plain.dane.test":    {"none", "deliver"},
		"nodata.dane.test":   {"none", "deliver"},
	}
	if code != 0 || len(mxs) != len(hosts) {
		t.Fatalf("exit %d, %d mx", code, len(mxs))
	}
	for _, m := range mxs {
		wt := want[m.Host]
		if m.DANE == nil || *m.DANE != wt[0] || m.Action != wt[1] || m.TLSA == nil {
			t.Errorf("%s: dane %v action %s tlsa %v; want %v", m.Host, m.DANE, m.Action, m.TLSA, wt)
			continue
		}
		switch m.Host {
		case "secure.dane.test":
			if len(*m.TLSA) != 1 || (*m.TLSA)[0] != strings.ToUpper(ee[:6])+strings.ToUpper(ee[6:]) {
				t.Errorf("tlsa = %v", *m.TLSA)
			}
		case "bogus.dane.test":
			if m.Result != "dnssec-invalid" {
				t.Errorf("bogus result = %q", m.Result)
			}
		}
	}
	_, mxs = run()
	for _, m := range mxs {
		if m.DANE != nil || m.TLSA != nil || m.Action != "deliver" {
			t.Errorf("without -dane: %+v", m)
		}
	}
	if code, stdout, _ := cmdtest.Run(t, bin, cmdtest.Args(base, "-dane", "dane.test")...); code != 0 ||
		!strings.Contains(string(stdout), "dane bogus") {
		t.Errorf("human output (exit %d):\n%s", code, stdout)
	}
}

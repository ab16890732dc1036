package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"testing"

	"go.uber.org/goleak"

	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBinary builds the command and runs it against the loopback world,
// once per exit status, checking its JSON contract (the package doc).
func TestBinary(t *testing.T) {
	bin := cmdtest.Build(t, "lookup")
	w, base := cmdtest.World(t)
	cmdtest.AddDomain(t, w, "enforce.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.test", "*.mx.enforce.test"}, MaxAge: 86400, ID: "abc123"})
	cmdtest.AddDomain(t, w, "broken.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.broken.test"}, MaxAge: 86400, ID: "b1"})
	w.Fault("mta-sts.broken.test", testserver.Status(500))
	cmdtest.AddDomain(t, w, "invalid.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.invalid.test"}, MaxAge: 86400, ID: "i1"})
	w.SetPolicyBody("invalid.test", "version: STSv1\nmode: strict\nmx: mx.invalid.test\nmax_age: 86400\n")
	cmdtest.AddDomain(t, w, "servfail.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.servfail.test"}, MaxAge: 86400})
	w.Fault("_mta-sts.servfail.test", testserver.ServFail)
	w.SetMX("plain.test", "mx.plain.test")

	base = append(base, "-timeout", "3s")
	run := func(args ...string) (int, []byte, []byte) {
		return cmdtest.Run(t, bin, cmdtest.Args(base, args...)...)
	}

	type mxOut struct{ Host, Action, Reason string }
	type out struct {
		Domain string `json:"domain"`
		ID     string `json:"id"`
		Policy *struct {
			Version string   `json:"version"`
			Mode    string   `json:"mode"`
			MaxAge  int      `json:"max_age"`
			MX      []string `json:"mx"`
		} `json:"policy"`
		Warnings  []string `json:"warnings"`
		Failure   *string  `json:"failure"`
		Temporary bool     `json:"temporary"`
		MX        []mxOut  `json:"mx"`
	}
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		failure   string
		temporary bool
		actions   []string
	}{
		{"policy_in_effect", []string{"enforce.test", "mx1.enforce.test", "a.mx.enforce.test", "evil.example"}, 0, "", false,
			[]string{"deliver", "deliver", "refuse"}},
		{"no_record", []string{"plain.test", "mx.plain.test"}, 1, "", false, []string{"deliver-without-sts"}},
		{"fetch_failed", []string{"broken.test", "mx.broken.test"}, 1, "sts-policy-fetch-error", false, []string{"deliver-without-sts"}},
		{"temporary", []string{"servfail.test", "mx.servfail.test"}, 2, "", true, []string{"defer"}},
		{"invalid_policy", []string{"invalid.test", "mx.invalid.test"}, 3, "sts-policy-invalid", false, []string{"deliver-without-sts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(append([]string{"-json"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			var o out
			if err := json.Unmarshal(stdout, &o); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			var raw map[string]any
			json.Unmarshal(stdout, &raw)
			for _, k := range []string{"domain", "id", "policy", "warnings", "temporary", "mx"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("key %q missing:\n%s", k, stdout)
				}
			}
			if o.Domain != tc.args[0] || o.Temporary != tc.temporary {
				t.Errorf("domain %q temporary %v\n%s", o.Domain, o.Temporary, stdout)
			}
			switch {
			case tc.failure == "" && o.Failure != nil:
				t.Errorf("failure %q, want none (absent)", *o.Failure)
			case tc.failure != "" && (o.Failure == nil || *o.Failure != tc.failure):
				t.Errorf("failure %v, want %q\n%s", o.Failure, tc.failure, stdout)
			}
			if (code == 0) != (o.Policy != nil) {
				t.Errorf("policy %+v with exit %d", o.Policy, code)
			}
			if len(o.MX) != len(tc.actions) {
				t.Fatalf("mx %+v, want %d entries", o.MX, len(tc.actions))
			}
			for i, a := range tc.actions {
				if o.MX[i].Action != a || o.MX[i].Reason == "" {
					t.Errorf("mx[%d] = %+v, want action %q", i, o.MX[i], a)
				}
			}
			// The human output works for the same case, with the same status.
			if hc, hout, _ := run(tc.args...); hc != tc.code || len(hout) == 0 {
				t.Errorf("human output: exit %d\n%s", hc, hout)
			}
		})
	}
	t.Run("policy_fields", func(t *testing.T) {
		_, stdout, _ := run("-json", "enforce.test")
		var o out
		json.Unmarshal(stdout, &o)
		if o.ID != "abc123" || o.Policy.Version != "STSv1" || o.Policy.Mode != "enforce" || o.Policy.MaxAge != 86400 ||
			len(o.Policy.MX) != 2 || o.Policy.MX[1] != "*.mx.enforce.test" || o.Warnings == nil {
			t.Errorf("got %s", stdout)
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{{}, {"-nosuchflag", "x.test"}, {"-timeout", "0s", "x.test"}, {"not a domain"}} {
			cmd := exec.Command(bin, args...)
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 64 {
				t.Errorf("%q: %v, want exit 64", args, err)
			}
		}
	})
}

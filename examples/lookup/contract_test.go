package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mtasts-go/mtasts/examples/internal/clitest"
	"github.com/mtasts-go/mtasts/internal/cmdtest"
	"github.com/mtasts-go/mtasts/internal/testserver"
)

// TestStallingPolicyHostIsFetchFailure: a policy host that never answers
// reads as a failed fetch, every time: exit 1 with failure
// sts-policy-fetch-error and the record's id, never a temporary failure.
func TestStallingPolicyHostIsFetchFailure(t *testing.T) {
	bin := cmdtest.Build(t, "lookup")
	w, base := cmdtest.World(t)
	cmdtest.AddDomain(t, w, "stall.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.stall.test"}, MaxAge: 86400, ID: "st1"})
	w.Fault("mta-sts.stall.test", testserver.SlowHeaders(time.Hour))
	for i := range 10 {
		code, stdout, stderr := cmdtest.Run(t, bin, cmdtest.Args(base, "-timeout", "300ms", "-json", "stall.test", "mx.stall.test")...)
		var o struct {
			ID        string  `json:"id"`
			Failure   *string `json:"failure"`
			Temporary bool    `json:"temporary"`
			Error     string  `json:"error"`
			MX        []struct {
				Action string `json:"action"`
				Result string `json:"result"`
			} `json:"mx"`
		}
		if err := json.Unmarshal(stdout, &o); err != nil {
			t.Fatalf("run %d: %v\n%s\n%s", i, err, stdout, stderr)
		}
		if code != 1 || o.Failure == nil || *o.Failure != "sts-policy-fetch-error" || o.Temporary || o.ID != "st1" || o.Error == "" ||
			len(o.MX) != 1 || o.MX[0].Action != "deliver-without-sts" || o.MX[0].Result != "sts-policy-fetch-error" {
			t.Fatalf("run %d: exit %d\n%s", i, code, stdout)
		}
	}
}

// TestJSONAdditions: -json also carries error, source, expires and each
// MX host's result, each absent when it has no value; every key of the
// original contract stays.
func TestJSONAdditions(t *testing.T) {
	bin := cmdtest.Build(t, "lookup")
	w, base := cmdtest.World(t)
	cmdtest.AddDomain(t, w, "enforce.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.enforce.test"}, MaxAge: 86400, ID: "e1"})
	cmdtest.AddDomain(t, w, "broken.test", testserver.Policy{Mode: "enforce", MX: []string{"mx.broken.test"}, MaxAge: 86400})
	w.Fault("mta-sts.broken.test", testserver.Status(500))
	run := func(args ...string) map[string]any {
		t.Helper()
		_, stdout, _ := cmdtest.Run(t, bin, append(cmdtest.Args(base, "-timeout", "3s", "-json"), args...)...)
		var raw map[string]any
		if err := json.Unmarshal(stdout, &raw); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		for _, k := range []string{"domain", "id", "policy", "warnings", "temporary", "mx"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("key %q missing", k)
			}
		}
		return raw
	}
	before := time.Now()
	raw := run("enforce.test", "mx1.enforce.test", "evil.example")
	if _, ok := raw["error"]; ok {
		t.Errorf("error present with no error: %v", raw)
	}
	if raw["source"] != "fetched" {
		t.Errorf("source = %v, want fetched", raw["source"])
	}
	exp, err := time.Parse(time.RFC3339, raw["expires"].(string))
	if err != nil || exp.Before(before.Add(86399*time.Second)) || exp.After(time.Now().Add(86401*time.Second)) {
		t.Errorf("expires = %v, %v", raw["expires"], err)
	}
	mx := raw["mx"].([]any)
	if _, ok := mx[0].(map[string]any)["result"]; ok {
		t.Errorf("result present for a matching MX: %v", mx[0])
	}
	if r := mx[1].(map[string]any)["result"]; r != "validation-failure" {
		t.Errorf("result of a mismatching MX = %v", r)
	}
	raw = run("broken.test", "mx.broken.test")
	if e, _ := raw["error"].(string); !strings.Contains(e, "500") {
		t.Errorf("error = %q, want the fetch failure", e)
	}
	for _, k := range []string{"source", "expires"} {
		if _, ok := raw[k]; ok {
			t.Errorf("%s present without a policy: %v", k, raw)
		}
	}
	if r := raw["mx"].([]any)[0].(map[string]any)["result"]; r != "sts-policy-fetch-error" {
		t.Errorf("mx result = %v", r)
	}
}

// TestHelpExitsZero: help was asked for; bad usage stays 64.
func TestHelpExitsZero(t *testing.T) {
	clitest.Help(t, cmdtest.Build(t, "lookup"))
}

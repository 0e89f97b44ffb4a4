package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckCommand(t *testing.T) {
	idp := newIdP(t)
	addr := startServer(t, idp).GRPCAddr().String()
	mint := func(c map[string]any) string {
		tok, err := idp.Mint("rsa-1", c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := mint(idp.Claims("alice", time.Hour, "orders:read orders:write", "orders-api"))
	cases := []struct {
		name    string
		args    []string
		code    int
		outcome string
		status  int
	}{
		{"allow", []string{"-token", tok, "-header", "x-user-id=mallory"}, 0, "allow", 200},
		{"missing", nil, 1, "missing", 401},
		{"invalid", []string{"-token", tok + "x"}, 1, "invalid", 401},
		{"forbidden", []string{"-token", mint(idp.Claims("bob", time.Hour, "orders:read", "orders-api")), "-policy", "orders-write"}, 1, "forbidden", 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"check", "-addr", addr, "-json"}, c.args...), &out, &errOut)
			if code != c.code {
				t.Fatalf("exit %d, want %d (stderr %s)", code, c.code, errOut.String())
			}
			var res checkResult
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			if res.Outcome != c.outcome || res.Status != c.status {
				t.Errorf("got %s %d, want %s %d", res.Outcome, res.Status, c.outcome, c.status)
			}
			if c.outcome == "allow" && res.Headers["x-user-id"] != "alice" {
				t.Errorf("x-user-id = %q", res.Headers["x-user-id"])
			}
		})
	}
	t.Run("could not ask", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if code := run([]string{"check", "-addr", "127.0.0.1:1", "-timeout", "1s"}, &out, &errOut); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("issuers:\n  - { name: a, issuer: https://a/, jwks_file: /x }\n"), 0o600)
	os.WriteFile(bad, []byte("issuers:\n  - { name: a, issuer: https://a/, jwks_file: /x, audience: [x] }\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-config", good}, &out, &errOut); code != 0 {
		t.Errorf("good config: exit %d: %s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "warning") {
		t.Errorf("good config warned: %s", errOut.String())
	}
	risky := filepath.Join(dir, "risky.yaml")
	os.WriteFile(risky, []byte("issuers:\n  - { name: a, issuer: https://a/, jwks_file: /x }\npolicies:\n  default:\n    error_mode: rpc_error\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"validate", "-config", risky}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "warning: line 5: policies.default.error_mode") || !strings.Contains(errOut.String(), "failure_mode_allow") {
		t.Errorf("rpc_error: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"validate", "-config", bad}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), `line 2: unknown key "audience"`) {
		t.Errorf("bad config: exit %d: %s", code, errOut.String())
	}
}

func TestPurgeCommand(t *testing.T) {
	s := startServer(t, newIdP(t))
	var out, errOut bytes.Buffer
	if code := run([]string{"purge", "-addr", s.AdminAddr().String(), "-token", "some-token"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `200 {"purged":true}`) {
		t.Errorf("purge: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	if code := run([]string{"purge", "-addr", s.AdminAddr().String()}, &out, &errOut); code != 2 {
		t.Errorf("exit %d without a token, want 2", code)
	}
	if code := run([]string{"purge", "-addr", "127.0.0.1:1", "-token", "t"}, &out, &errOut); code != 2 {
		t.Errorf("exit %d when the admin listener is unreachable, want 2", code)
	}
}

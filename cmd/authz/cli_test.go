package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authz-dev/authz/internal/testidp"
)

func TestCheckCommand(t *testing.T) {
	h := start(t)
	addr := h.srv.grpcLn.Addr().String()
	tok := h.mint("rsa-1", h.validClaims())
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
		{"forbidden", []string{"-token", h.mint("rsa-1", h.idp.Claims("bob", 3600e9, "orders:read", "orders-api")), "-policy", "orders-write"}, 1, "forbidden", 403},
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

func TestTypAndPayloadHeaderAndRetryAfter(t *testing.T) {
	idp := newIdP(t)
	cfg := strings.Replace(baseConfig, "    leeway: 0s\n", "    leeway: 0s\n    typ: at+jwt\n", 1)
	cfg = strings.Replace(cfg, "    dynamic_metadata: true\n", "    dynamic_metadata: true\n    payload_header: x-jwt-payload\n", 1)
	cfg = strings.Replace(cfg, "log: { level: debug }", "outcomes:\n  error: { status: 503, retry_after: 2s }\n  invalid: { status: 403 }\nlog: { level: debug }", 1)
	h := startWith(t, idp, cfg)
	h.waitServing()
	o := h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "allow", 200)
	payload, err := base64.RawURLEncoding.DecodeString(o.headers["x-jwt-payload"])
	var claims map[string]any
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims["sub"] != "alice" {
		t.Errorf("x-jwt-payload = %q", o.headers["x-jwt-payload"])
	}
	// A plain JWT (typ JWT) is refused when the issuer demands at+jwt; the
	// configured invalid status applies.
	key, _ := idp.SigningKey("rsa-1")
	plain, err := testidp.SignTyped(key, "JWT", h.validClaims())
	if err != nil {
		t.Fatal(err)
	}
	h.expect(h.check(withToken(plain)), "invalid", 403)
	appTyp, _ := testidp.SignTyped(key, "application/at+jwt", h.validClaims())
	h.expect(h.check(withToken(appTyp)), "allow", 200)
	o = h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withPolicy("nope")), "error", 503)
	if o.headers["retry-after"] != "2" {
		t.Errorf("retry-after = %q", o.headers["retry-after"])
	}
}

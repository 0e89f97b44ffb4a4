package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/authz/apikey"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/redistest"
	"github.com/authz-dev/authz/internal/testsupport"
)

// writeKeyFile replaces the key file as an operator's tooling would: a
// new file renamed over the old.
func writeKeyFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// API keys over both doors: a key from a source that carries keys is
// judged by its hash and its metadata becomes claims; unknown, disabled,
// empty, oversized and non-ASCII keys are invalid; a key beside a token is
// refused; a key disabled in the file is refused from the next Check
// after the file changes, cached verdict or not; the key appears in no
// log line or metric.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	key, hash, _ := apikey.NewKey()
	off, offHash, _ := apikey.NewKey()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeyFile(t, path, hash+": { sub: partner-a, client_id: batch, scope: \"orders:read orders:write\", tenant: t1 }\n"+offHash+": { sub: partner-b, disabled: true }\n")
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.APIKeys = []config.APIKeys{{Name: "partners", File: path}}
	cfg.Policies["partner-api"] = config.Policy{
		TokenSources:  []config.TokenSource{{Header: "x-api-key", APIKeys: "partners"}, {Header: "authorization", Scheme: "ApiKey", APIKeys: "partners"}},
		RequireScopes: []string{"orders:read"},
		Headers:       map[string]string{"sub": "x-user-id", "client_id": "x-client-id", "tenant": "x-tenant"},
	}
	// A policy that takes tokens and keys: either, never both.
	cfg.Policies["mixed"] = config.Policy{TokenSources: []config.TokenSource{{Header: "authorization", Scheme: "Bearer"}, {Header: "x-api-key", APIKeys: "partners"}}}
	h := startWith(t, idp, cfg)
	h.waitServing()
	jwt := h.mint("rsa-1", h.validClaims())
	h.expect(h.check(withPolicy("mixed"), withHeader("x-api-key", key)), "allow", 200)
	h.expect(h.check(withPolicy("mixed"), withToken(jwt)), "allow", 200)
	h.expect(h.check(withPolicy("mixed"), withToken(jwt), withHeader("x-api-key", key)), "invalid", 401)

	o := h.expect(h.check(withPolicy("partner-api"), withHeader("x-api-key", key)), "allow", 200)
	if o.Headers["x-user-id"] != "partner-a" || o.Headers["x-client-id"] != "batch" || o.Headers["x-tenant"] != "t1" {
		t.Errorf("claims from the key's entry: %v", o.Headers)
	}
	h.expect(h.check(withPolicy("partner-api"), withHeader("authorization", "ApiKey "+key)), "allow", 200)
	for name, opt := range map[string]checkOpt{
		"unknown":        withHeader("x-api-key", "azk_unknown"),
		"disabled":       withHeader("x-api-key", off),
		"empty":          withHeader("x-api-key", ""),
		"oversized":      withHeader("x-api-key", strings.Repeat("k", 20<<10)),
		"non-ASCII":      withHeader("x-api-key", key+"é"),
		"a Bearer token": withHeader("authorization", "Bearer "+key),
		"in two headers": func(r *authv3.CheckRequest) {
			withHeader("x-api-key", key)(r)
			withHeader("authorization", "ApiKey "+off)(r)
		},
	} {
		o := read(h.check(withPolicy("partner-api"), opt))
		if o.Outcome != "invalid" && o.Outcome != "missing" {
			t.Errorf("%s key: %q", name, o.Outcome)
		}
	}

	// The HTTP door (Envoy's http_service shape here).
	resp := h.forward("GET", "/check/orders", map[string]string{"X-Authz-Policy": "partner-api", "X-Api-Key": key})
	if resp.StatusCode != 200 || resp.Header.Get("X-User-Id") != "partner-a" {
		t.Errorf("http door: %d %v", resp.StatusCode, resp.Header)
	}

	// Disabled in the file: refused from the next Check after authz reads
	// it, although the key's verdict is cached.
	writeKeyFile(t, path, hash+": { sub: partner-a, disabled: true }\n")
	testsupport.WaitFor(t, "the key file's change to count", func() bool {
		return read(h.check(withPolicy("partner-api"), withHeader("x-api-key", key))).Outcome == "invalid"
	})

	for what, text := range map[string]string{"logs": h.logs.String(), "metrics": h.metricsText()} {
		if strings.Contains(text, key) || strings.Contains(text, off) {
			t.Errorf("an API key appears in the %s", what)
		}
	}
}

// A fleet's keys in a Redis hash of the shared tier (a real redis-server):
// HSET adds a key, HDEL revokes it from the next Check, and a Redis that
// does not answer is an error, never an allow.
func TestAPIKeysInRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	idp := newIdP(t)
	cfg := sharedConfig(t, idp, rs.Addr)
	// A look-up past the 50 ms default is a store error (503), which a
	// loaded test machine produced; the test means Redis down, below.
	cfg.Cache.Redis.Timeout = 5 * time.Second
	cfg.APIKeys = []config.APIKeys{{Name: "fleet", RedisKey: "authz:api-keys"}}
	cfg.Policies["fleet-api"] = config.Policy{
		TokenSources: []config.TokenSource{{Header: "x-api-key", APIKeys: "fleet"}},
		Headers:      map[string]string{"sub": "x-user-id"},
	}
	h := startIntrospect(t, idp, cfg)
	key, hash, _ := apikey.NewKey()
	h.expect(h.check(withPolicy("fleet-api"), withHeader("x-api-key", key)), "invalid", 401)
	rdb := rs.Client()
	if err := rdb.HSet(context.Background(), "authz:api-keys", hash, `{"sub": "job-7", "scope": "orders:read"}`).Err(); err != nil {
		t.Fatal(err)
	}
	o := h.expect(h.check(withPolicy("fleet-api"), withHeader("x-api-key", key)), "allow", 200)
	if o.Headers["x-user-id"] != "job-7" {
		t.Errorf("claims from the hash's entry: %v", o.Headers)
	}
	rdb.HSet(context.Background(), "authz:api-keys", hash, `not an entry: [`)
	h.expect(h.check(withPolicy("fleet-api"), withHeader("x-api-key", key)), "error", 503)
	rdb.HDel(context.Background(), "authz:api-keys", hash)
	h.expect(h.check(withPolicy("fleet-api"), withHeader("x-api-key", key)), "invalid", 401)
	rdb.HSet(context.Background(), "authz:api-keys", hash, `{"sub": "job-7"}`)
	rs.Stop()
	h.expect(h.check(withPolicy("fleet-api"), withHeader("x-api-key", key)), "error", 503)
	if strings.Contains(h.logs.String(), key) {
		t.Error("the key reached the log")
	}
}

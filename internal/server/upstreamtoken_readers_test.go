package server

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testsupport"
	jose "github.com/go-jose/go-jose/v4"
)

// verified is what verify-minted.mjs (panva's jose) made of one token.
type verified struct {
	OK      bool           `json:"ok"`
	Header  map[string]any `json:"header"`
	Payload map[string]any `json:"payload"`
	Error   string         `json:"error"`
}

type toVerify struct {
	Token    string `json:"token"`
	Audience string `json:"audience"`
}

// verifyWithJose verifies tokens as an upstream using jose would, finding
// the keys by discovery from issuer.
func verifyWithJose(t *testing.T, issuer string, tokens ...toVerify) []verified {
	t.Helper()
	needsProcess(t, "node and the npm modules of testdata/interop")
	dir := testsupport.RepoPath(t, "testdata/interop")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose")); err != nil {
		t.Fatalf("npm module jose is not installed: run `make test` (it runs npm ci in %s)", dir)
	}
	req, _ := json.Marshal(map[string]any{"issuer": issuer, "tokens": tokens})
	cmd := exec.Command(findNode(t), "verify-minted.mjs", string(req))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("verify-minted.mjs: %v", err)
	}
	var got []verified
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(tokens) {
		t.Fatalf("verify-minted.mjs printed %q: %v", out, err)
	}
	return got
}

// Behind a real nginx with the recipe's lines (auth_request_set +
// proxy_set_header), the backend gets authz's token in place of the
// client's, and an identity header only as authz wrote it; jose, finding
// authz's keys by discovery, verifies both.
func TestMintedTokensThroughNginxVerifyWithJose(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	key := writeSigningKey(t, t.TempDir(), jose.ES256)
	configure := func(issuer string) *config.Config {
		cfg := nginxProfileConfig(idp)
		cfg.UpstreamTokens = config.UpstreamTokens{Issuer: issuer, KeyFiles: []string{key}}
		def := cfg.Policies["default"]
		def.UpstreamToken = &config.UpstreamToken{Audience: "orders-api", Claims: []string{"scope", "client_id"}}
		cfg.Policies["default"] = def
		ow := cfg.Policies["orders-write"]
		ow.UpstreamToken = &config.UpstreamToken{Audience: "orders-writer", Header: "x-identity"}
		cfg.Policies["orders-write"] = ow
		return cfg
	}
	h := startIntrospect(t, idp, configure("http://authz.invalid"))
	// The keys are served at the listener: that is the issuer upstreams discover from.
	issuer := "http://" + h.srv.httpLn.Addr().String()
	if err := h.reload(configure(issuer)); err != nil {
		t.Fatal(err)
	}
	backend := echoBackend(t)
	lines := "include snippets/authz-upstream-token.conf;\n" +
		"auth_request_set $authz_identity $upstream_http_x_identity;\nproxy_set_header X-Identity $authz_identity;\n"
	addr := startNginxWith(t, h.srv.httpLn.Addr().String(), strings.TrimPrefix(backend.URL, "http://"), lines)

	reader := h.opaque("alice", 3600e9)
	r := viaNginx(t, addr, "/things/1", map[string]string{"Authorization": "Bearer " + reader, "X-Identity": "forged"})
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	phantom, ok := strings.CutPrefix(r.upstream.Get("Authorization"), "Bearer ")
	if !ok || phantom == reader || strings.Count(phantom, ".") != 2 {
		t.Fatalf("the backend got Authorization %q", r.upstream.Get("Authorization"))
	}
	if got := r.upstream.Values("X-Identity"); len(got) != 0 {
		t.Errorf("the client's X-Identity reached the backend: %q", got)
	}

	writer := h.idp.IssueOpaque(h.idp.Claims("bob", 3600e9, "orders:read orders:write", "orders-api"))
	w := viaNginx(t, addr, "/orders/7", map[string]string{"Authorization": "Bearer " + writer, "X-Identity": "forged", "X_Identity": "forged"})
	if w.status != 200 {
		t.Fatalf("status %d", w.status)
	}
	identity := w.upstream.Values("X-Identity")
	if len(identity) != 1 || identity[0] == "forged" {
		t.Fatalf("the backend got X-Identity %q", identity)
	}
	if _, ok := w.upstream["X_identity"]; ok {
		t.Error("the client's X_Identity reached the backend")
	}

	got := verifyWithJose(t, issuer,
		toVerify{phantom, "orders-api"}, toVerify{identity[0], "orders-writer"},
		toVerify{identity[0], "orders-api"}, toVerify{reader, "orders-api"})
	if !got[0].OK || got[0].Payload["sub"] != "alice" || got[0].Payload["scope"] != "orders:read" || got[0].Header["typ"] != "JWT" {
		t.Errorf("jose on the phantom token: %+v", got[0])
	}
	if !got[1].OK || got[1].Payload["sub"] != "bob" {
		t.Errorf("jose on the identity token: %+v", got[1])
	}
	if got[2].OK || !strings.Contains(got[2].Error, "aud") {
		t.Errorf("jose accepted a token minted for another upstream: %+v", got[2])
	}
	if got[3].OK {
		t.Error("jose accepted the client's opaque token")
	}
}

package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/coretest"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	mcpResource = coretest.MCPResource
	mcpMetadata = coretest.MCPMetadata
)

// startMCP runs the base config with a policy guarding an MCP server as a
// protected resource (RFC 9728, RFC 8707).
func startMCP(t *testing.T) *harness {
	t.Helper()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	// The issuer checks no audience of its own: the resource policy does.
	cfg.Issuers[0].Audiences = nil
	cfg.Policies["mcp"] = config.Policy{
		RequireScopes: []string{"mcp:tools"},
		Resource:      &config.Resource{ID: mcpResource, AuthorizationServers: []string{idp.Issuer()}, Name: "Example MCP"},
	}
	h := startWith(t, idp, cfg)
	h.waitServing()
	return h
}

// The metadata document is served at the path RFC 9728 §3.1 derives from
// the identifier (with or without a trailing slash), cacheable, with the
// scopes the policy demands as its default scopes_supported.
func TestProtectedResourceMetadata(t *testing.T) {
	t.Parallel()
	h := startMCP(t)
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource/mcp/"} {
		resp, body := h.get(path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
			t.Fatalf("%s: %d %v %s", path, resp.StatusCode, resp.Header, body)
		}
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["resource"] != mcpResource || doc["resource_name"] != "Example MCP" ||
			!sameJSONList(doc["authorization_servers"], h.idp.Issuer()) || !sameJSONList(doc["scopes_supported"], "mcp:tools") ||
			!sameJSONList(doc["bearer_methods_supported"], "header") {
			t.Errorf("%s: %s", path, body)
		}
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/other", "/.well-known/oauth-protected-resource/mcp/x"} {
		if resp, body := h.get(path); resp.StatusCode != 404 {
			t.Errorf("%s: %d %s; want 404", path, resp.StatusCode, body)
		}
	}
}

func sameJSONList(v any, want ...string) bool {
	list, ok := v.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i, w := range want {
		if list[i] != w {
			return false
		}
	}
	return true
}

// Through the shipped nginx recipe: the metadata is reachable at the
// resource's own host, and a 401 is JSON with authz's one challenge —
// not nginx's HTML page — naming the metadata, so a client finds the
// authorization server from the first answer.
func TestProtectedResourceBehindNginx(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := nginxProfileConfig(idp)
	cfg.Issuers[0].Audiences = nil
	def := cfg.Policies["default"]
	def.Resource = &config.Resource{ID: mcpResource, AuthorizationServers: []string{idp.Issuer()}}
	cfg.Policies["default"] = def
	h := startIntrospect(t, idp, cfg)
	backend := echoBackend(t)
	addr := startNginx(t, h.srv.httpLn.Addr().String(), strings.TrimPrefix(backend.URL, "http://"))

	get := func(path string, header map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = "mcp.example.com"
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, body := get("/.well-known/oauth-protected-resource/mcp", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"resource":"`+mcpResource+`"`) {
		t.Errorf("metadata through nginx: %d %s", resp.StatusCode, body)
	}
	meta := `resource_metadata="` + mcpMetadata + `"`
	resp, body = get("/mcp", nil)
	if c := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(c) != 1 || c[0] != `Bearer realm="authz", `+meta ||
		resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"error":"missing_token"`) {
		t.Errorf("no token through nginx: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	other := idp.Claims("agent", time.Hour, "orders:read", "")
	other["aud"] = "https://other.example.com/mcp"
	resp, body = get("/mcp", map[string]string{"Authorization": "Bearer " + h.mint("ec-1", other)})
	if c := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(c) != 1 || !strings.Contains(c[0], `error="invalid_token"`) || !strings.Contains(c[0], meta) ||
		!strings.Contains(body, `"error":"invalid_token"`) {
		t.Errorf("another resource's token through nginx: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	mine := idp.Claims("agent", time.Hour, "orders:read", "")
	mine["aud"] = mcpResource
	if resp, body = get("/mcp", map[string]string{"Authorization": "Bearer " + h.mint("ec-1", mine)}); resp.StatusCode != 200 {
		t.Errorf("the resource's token through nginx: %d %s", resp.StatusCode, body)
	}
}

// Signed metadata (RFC 9728 §2.2): the document's values as a JWT signed
// with authz's upstream_tokens key, verifiable by the JWKS authz serves.
func TestProtectedResourceSignedMetadata(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := mintingConfig(t, idp, writeSigningKey(t, t.TempDir(), jose.ES256))
	cfg.Policies["mcp"] = config.Policy{Resource: &config.Resource{ID: mcpResource, AuthorizationServers: []string{idp.Issuer()}, SignedMetadata: true}}
	h := startWith(t, idp, cfg)
	h.waitServing()
	resp, body := h.get("/.well-known/oauth-protected-resource/mcp")
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	signed, _ := doc["signed_metadata"].(string)
	if signed == "" {
		t.Fatalf("no signed_metadata: %s", body)
	}
	_, claims := h.verifyMinted(signed)
	if claims["resource"] != mcpResource || claims["iss"] != "http://authz.test" || !sameJSONList(claims["authorization_servers"], idp.Issuer()) {
		t.Errorf("signed metadata claims %v", claims)
	}
	if _, nested := claims["signed_metadata"]; nested {
		t.Error("the signed metadata signs itself")
	}
}

package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/internal/config"
)

// withBody is a POST to /mcp whose body Envoy sends (with_request_body),
// as raw_body (pack_as_bytes) or as body.
func withBody(body string, raw bool) checkOpt {
	return func(r *authv3.CheckRequest) {
		h := r.Attributes.Request.Http
		h.Method, h.Path = "POST", "/mcp"
		h.Headers[":method"], h.Headers[":path"] = "POST", "/mcp"
		if raw {
			h.RawBody = []byte(body)
		} else {
			h.Body = body
		}
	}
}

func mcpCall(tool string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
}

// Per-tool policy over the gRPC door: a rule reads the JSON-RPC message
// Envoy sends in the body; each message of a batch is judged; a body that
// cannot be judged is refused with its reason in the log.
func TestPerToolPolicyOverTheBody(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers[0].Audiences = nil
	cfg.Policies["mcp"] = config.Policy{
		RequireScopes: []string{"mcp:tools"},
		Resource:      &config.Resource{ID: mcpResource, AuthorizationServers: []string{idp.Issuer()}},
		Rules:         []config.Rule{{Name: "delete-needs-admin", Expr: `!(mcp.method == "tools/call" && mcp.tool.startsWith("delete_")) || "tools:admin" in token.scopes`}},
	}
	h := startWith(t, idp, cfg)
	h.waitServing()
	token := func(scope string) string {
		c := idp.Claims("agent", time.Hour, scope, "")
		c["aud"] = mcpResource
		return h.mint("ec-1", c)
	}
	user, admin := token("mcp:tools"), token("mcp:tools tools:admin")

	for _, raw := range []bool{true, false} {
		h.expect(h.check(withPolicy("mcp"), withToken(user), withBody(mcpCall("get_weather"), raw)), "allow", 200)
		o := h.expect(h.check(withPolicy("mcp"), withToken(user), withBody(mcpCall("delete_repo"), raw)), "forbidden", 403)
		if !strings.Contains(o.headers["www-authenticate"], `error="insufficient_scope"`) {
			t.Errorf("a refused tool: challenge %q", o.headers["www-authenticate"])
		}
		h.expect(h.check(withPolicy("mcp"), withToken(admin), withBody(mcpCall("delete_repo"), raw)), "allow", 200)
	}
	batch := "[" + mcpCall("get_weather") + "," + mcpCall("delete_repo") + "]"
	h.expect(h.check(withPolicy("mcp"), withToken(user), withBody(batch, true)), "forbidden", 403)
	h.expect(h.check(withPolicy("mcp"), withToken(admin), withBody(batch, true)), "allow", 200)
	// GET opens the server's event stream: no body, no method, the rule holds.
	h.expect(h.check(withPolicy("mcp"), withToken(user)), "allow", 200)

	for name, opts := range map[string][]checkOpt{
		"not JSON-RPC":          {withBody(`{"jsonrpc":"2.0",`, true)},
		"only part of the body": {withBody(mcpCall("get_weather"), true), withHeader("x-envoy-auth-partial-body", "true")},
		"no body":               {withBody("", true)},
		"over the":              {withBody(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","pad":"`+strings.Repeat("x", 300<<10)+`"}}`, true)},
	} {
		before := h.logs.String()
		h.expect(h.check(append([]checkOpt{withPolicy("mcp"), withToken(admin)}, opts...)...), "forbidden", 403)
		if logged := strings.TrimPrefix(h.logs.String(), before); !strings.Contains(logged, "reads the request body, which cannot be judged") || !strings.Contains(logged, name) {
			t.Errorf("%s: the log says %s", name, logged)
		}
	}
}

// The HTTP door in Envoy's HTTP mode reads the body Envoy sends
// (with_request_body) for the same rules; a body past the door's bound or
// one Envoy marked cut short is refused.
func TestPerToolPolicyAtTheHTTPDoor(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp) // http.proxy: envoy
	cfg.Issuers[0].Audiences = nil
	cfg.Policies["mcp"] = config.Policy{
		Resource: &config.Resource{ID: mcpResource, AuthorizationServers: []string{idp.Issuer()}},
		Rules:    []config.Rule{{Name: "delete-needs-admin", Expr: `!(mcp.method == "tools/call" && mcp.tool.startsWith("delete_")) || "tools:admin" in token.scopes`}},
	}
	h := startWith(t, idp, cfg)
	h.waitServing()
	c := idp.Claims("agent", time.Hour, "mcp:tools", "")
	c["aud"] = mcpResource
	user := h.mint("ec-1", c)
	post := func(body string, extra map[string]string) int {
		req, _ := http.NewRequest("POST", "http://"+h.srv.httpLn.Addr().String()+"/check/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+user)
		req.Header.Set("X-Authz-Policy", "mcp")
		req.Header.Set("Content-Type", "application/json")
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(mcpCall("get_weather"), nil); got != 200 {
		t.Errorf("a harmless tool: %d", got)
	}
	if got := post(mcpCall("delete_repo"), nil); got != 403 {
		t.Errorf("a deleting tool without the scope: %d", got)
	}
	if got := post(mcpCall("get_weather"), map[string]string{"X-Envoy-Auth-Partial-Body": "true"}); got != 403 {
		t.Errorf("a body Envoy cut short: %d", got)
	}
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","pad":"` + strings.Repeat("x", 300<<10) + `"}}`
	if got := post(big, nil); got != 403 {
		t.Errorf("a body past the bound: %d", got)
	}
}

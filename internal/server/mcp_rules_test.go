package server

import (
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

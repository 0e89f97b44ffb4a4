package config

import (
	"strings"
	"testing"
	"time"
)

// A resource's mistakes are errors with their line: an identifier that is
// not one, a plain-http one off loopback, no authorization server, a
// bearer method authz does not read, two resources on one metadata path.
func TestResourceErrors(t *testing.T) {
	res := func(body string) string { return minimal + "  mcp:\n    resource:\n" + body }
	cases := []struct{ name, yaml, want string }{
		{"no id", res("      authorization_servers: [https://idp.example.com]\n"), "policies.mcp.resource.id: the resource identifier is required"},
		{"a fragment", res("      id: https://mcp.example.com/mcp#x\n      authorization_servers: [https://idp.example.com]\n"), "no fragment"},
		{"plain http off loopback", res("      id: http://mcp.example.com/mcp\n      authorization_servers: [https://idp.example.com]\n"), "use https (http only for a loopback host)"},
		{"a query", res("      id: https://mcp.example.com/mcp?x=1\n      authorization_servers: [https://idp.example.com]\n"), "drop it"},
		{"no authorization server", res("      id: https://mcp.example.com/mcp\n"), "policies.mcp.resource.authorization_servers: name at least one"},
		{"an http authorization server", res("      id: https://mcp.example.com/mcp\n      authorization_servers: [http://idp.example.com]\n"), "policies.mcp.resource.authorization_servers.0"},
		{"a bearer method authz cannot read", res("      id: https://mcp.example.com/mcp\n      authorization_servers: [https://idp.example.com]\n      bearer_methods_supported: [query]\n"), `"query": authz reads tokens from headers only`},
		{"two resources on one path", res("      id: https://mcp.example.com/mcp\n      authorization_servers: [https://idp.example.com]\n") +
			"  mcp2:\n    resource:\n      id: https://other.example.com/mcp\n      authorization_servers: [https://idp.example.com]\n", "/.well-known/oauth-protected-resource/mcp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "line ") {
				t.Errorf("got %v; want an error with its line, containing %q", err, c.want)
			}
		})
	}
}

// Defaults: scopes_supported are every scope the policies guarding the
// resource require (a client learns the step-up scope too), the bearer
// method is header, clients may keep the document an hour; a policy that
// extends the resource's policy guards it too, with the same document, and
// the metadata's URL is the identifier's with the well-known path inserted
// (RFC 9728 §3.1).
func TestResourceDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal + `  mcp:
    require_scopes: [mcp:tools]
    resource:
      id: https://mcp.example.com/mcp/
      authorization_servers: [https://idp.example.com]
  mcp-admin:
    extends: mcp
    require_scopes: [mcp:admin]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Policies["mcp"].Resource
	if strings.Join(r.ScopesSupported, " ") != "mcp:admin mcp:tools" || strings.Join(r.BearerMethodsSupported, " ") != "header" || r.MaxAge != time.Hour {
		t.Errorf("defaults: %+v", r)
	}
	if got := r.MetadataURL(); got != "https://mcp.example.com/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("metadata URL %q", got)
	}
	if a := cfg.Policies["mcp-admin"].Resource; a == nil || !sameResource(a, r) {
		t.Errorf("an extending policy's resource: %+v", a)
	}
	if cfg.Policies["orders-write"].Resource != nil {
		t.Error("a policy that does not extend the resource's guards it")
	}
}

// An exchange's mistakes are errors with their line.
func TestExchangeErrors(t *testing.T) {
	ex := func(body string) string {
		return minimal + "  exchanging:\n    upstream_token:\n      source: exchange\n" + body
	}
	cases := []struct{ name, yaml, want string }{
		{"no exchange block", ex(""), "upstream_token.exchange: is required for source exchange"},
		{"no endpoint", ex("      exchange: { client_id: authz, client_secret: x, audiences: [orders] }\n"), "exchange.token_endpoint: must be an http(s) URL"},
		{"no client", ex("      exchange: { token_endpoint: https://idp/token, client_secret: x, audiences: [orders] }\n"), "exchange.client_id: is required"},
		{"no secret", ex("      exchange: { token_endpoint: https://idp/token, client_id: authz, audiences: [orders] }\n"), "exchange.client_secret: is required"},
		{"no target", ex("      exchange: { token_endpoint: https://idp/token, client_id: authz, client_secret: x }\n"), "name the upstream"},
		{"a resource with a fragment", ex("      exchange: { token_endpoint: https://idp/token, client_id: authz, client_secret: x, resources: [\"https://api/#x\"] }\n"), "without a fragment"},
		{"a mint setting", ex("      audience: orders\n      exchange: { token_endpoint: https://idp/token, client_id: authz, client_secret: x, audiences: [orders] }\n"), "shape a minted token"},
		{"exchange beside mint", minimal + "  minting:\n    upstream_token:\n      source: idp\n      exchange: { token_endpoint: https://idp/token }\n", "configures source exchange"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v; want an error containing %q", err, c.want)
			}
		})
	}
}

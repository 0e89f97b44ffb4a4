// Package coretest builds a real core for the tests of the packages
// around it: an authz.Authorizer over a test IdP's keys, with the claim
// headers and policies the suites share, and no door or config. The core's
// own tests, the doors' and the validators' judge real tokens with it
// instead of each building one.
package coretest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/rules"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// Core is an Authorizer with the IdP whose tokens it accepts and the key
// set it holds of that IdP.
type Core struct {
	*authz.Authorizer
	IdP  *testidp.IdP
	Keys *jwt.Keys
}

// Setup adjusts the core a test builds: where its keys come from, the
// issuer's checks, the core's options, and a hook told of every signature
// verification.
type Setup struct {
	Keys     func(*jwt.KeysOptions)
	Issuer   func(*jwt.IssuerOptions)
	Core     func(*authz.Options)
	OnVerify func()
}

// Audience is the audience the core's issuer accepts.
const Audience = "orders-api"

// New builds a core against a new test IdP and waits for its first key
// set.
func New(t testing.TB) Core {
	t.Helper()
	c := NewWith(t, testsupport.NewIdP(t), Setup{})
	<-c.Keys.Ready()
	return c
}

// NewWith builds the core against idp's keys as set; it does not wait for
// the first key set, so a test can watch a key source that never loads.
func NewWith(t testing.TB, idp *testidp.IdP, set Setup) Core {
	t.Helper()
	ko := jwt.KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()}
	if set.Keys != nil {
		set.Keys(&ko)
	}
	keys, err := jwt.NewKeys(ko)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keys.Close)
	io := jwt.IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA},
		Audiences: []string{Audience}, Keys: keys, OnVerify: set.OnVerify}
	if set.Issuer != nil {
		set.Issuer(&io)
	}
	iss, err := jwt.NewIssuer(io)
	if err != nil {
		t.Fatal(err)
	}
	issuers, _ := jwt.NewSet(iss)
	opts := authz.Options{JWT: issuers, CacheMaxBytes: 4 << 20, TTL: time.Minute, NegativeTTL: time.Second, Policies: []*authz.Policy{
		Policy(authz.DefaultPolicy),
		func() *authz.Policy {
			p := Policy("orders-write")
			p.RequireScopes = []string{"orders:write"}
			return p
		}(),
		func() *authz.Policy {
			p := Policy("cookie")
			p.TokenSources = append(p.TokenSources, authz.TokenSource{Cookie: "access_token"})
			return p
		}(),
	}}
	if set.Core != nil {
		set.Core(&opts)
	}
	a, err := authz.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return Core{a, idp, keys}
}

// Policy is a policy named name as the core's are: the bearer token,
// judged by the issuer "corp", sub, scope, email, roles and exp forwarded.
func Policy(name string) *authz.Policy {
	return &authz.Policy{Name: name, TokenSources: []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"corp"},
		Headers: []authz.ClaimHeader{{Claim: "sub", Header: "x-user-id"}, {Claim: "scope", Header: "x-scopes"}, {Claim: "email", Header: "x-email"},
			{Claim: "realm_access.roles", Header: "x-roles"}, {Claim: "exp", Header: "x-exp"}},
		MaxHeaderBytes: 4096, HeaderSeparator: ","}
}

// Mint signs claims with the IdP's RSA key.
func (c Core) Mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	return c.MintKid(t, "rsa-1", claims)
}

// MintKid signs claims with the IdP's key kid.
func (c Core) MintKid(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	tok, err := c.IdP.Mint(kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Valid is the claims of a valid token for alice with orders:read and
// orders:write.
func (c Core) Valid() map[string]any {
	return c.IdP.Claims("alice", time.Hour, "orders:read orders:write", Audience)
}

// Decide judges a GET of /orders/1 on shop.example with headers h under
// policy.
func (c Core) Decide(policy string, h authz.MapHeader) authz.Decision {
	return c.Authorize(context.Background(), &authz.Request{Policy: policy, Method: "GET", Host: "shop.example", Path: "/orders/1", Header: h})
}

// Bearer is the header map of a request carrying tok as a bearer token.
func Bearer(tok string) authz.MapHeader { return authz.MapHeader{"authorization": {"Bearer " + tok}} }

// Header is the value the decision sets for name, if it sets it.
func Header(d authz.Decision, name string) (string, bool) {
	for _, h := range d.Headers {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}

// HeaderCasePolicy gives the default policy its claim and payload headers
// in mixed case (x-user-id, x-scopes and x-email; x-claims-payload), as an
// operator may write them.
func HeaderCasePolicy(o *authz.Options) {
	p := o.Policies[0]
	p.Headers = []authz.ClaimHeader{{Claim: "sub", Header: "X-User-Id"}, {Claim: "scope", Header: "X-Scopes"}, {Claim: "email", Header: "X-Email"}}
	p.PayloadHeader = "X-Claims-Payload"
}

// ClientSpellings are the names under which a client sends its own copies
// of HeaderCasePolicy's headers: every case, '_' for '-'.
var ClientSpellings = []string{"x-user-id", "X-USER-ID", "x_user_id", "X_User-Id", "x-scopes", "X_SCOPES", "x-email", "X-Email", "x_email",
	"x-claims-payload", "X_Claims_Payload"}

// CheckHeaderCase judges an allow under HeaderCasePolicy for a token
// without an email claim, as a proxy applies it (its sets, then its
// removes, names compared lower-cased): no header is both set and removed,
// the claims present are set, and every spelling of the rest is removed.
func CheckHeaderCase(t testing.TB, sets, removes []string) {
	t.Helper()
	for _, s := range sets {
		for _, r := range removes {
			if strings.EqualFold(s, r) {
				t.Errorf("%q is set and removed (as %q): the upstream would get nothing", s, r)
			}
		}
	}
	for _, want := range []string{"x-user-id", "x-scopes", "x-claims-payload"} {
		if !slices.ContainsFunc(sets, func(s string) bool { return strings.EqualFold(s, want) }) {
			t.Errorf("%s not set: sets %q", want, sets)
		}
	}
	for _, want := range []string{"x-email", "x_user_id", "x_scopes", "x_email", "x_claims_payload", "x_user-id"} {
		if !slices.ContainsFunc(removes, func(s string) bool { return strings.EqualFold(s, want) }) {
			t.Errorf("%s not removed: removes %q", want, removes)
		}
	}
}

// The MCP server the "mcp" policy of MCP guards (RFC 9728, RFC 8707), and
// where its metadata is.
const (
	MCPResource = "https://mcp.example.com/mcp"
	MCPMetadata = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
)

// MCP is a Setup with the policy "mcp": a token whose audience names
// MCPResource, with scope mcp:tools, and the rules exprs (CEL, as
// policies' rules) over the request and its JSON-RPC body. The issuer
// checks no audience of its own: the resource policy does.
func MCP(t testing.TB, exprs ...string) Setup {
	t.Helper()
	set := Rules(t, exprs...)
	return Setup{
		Issuer: func(o *jwt.IssuerOptions) { o.Audiences = nil },
		Core: func(o *authz.Options) {
			p := Policy("mcp")
			p.RequireScopes, p.Resource, p.ResourceMetadata, p.Rules = []string{"mcp:tools"}, MCPResource, MCPMetadata, set
			o.Policies = append(o.Policies, p)
		},
	}
}

// Rules compiles exprs (CEL, as policies' rules) into a policy's rules;
// nil for none.
func Rules(t testing.TB, exprs ...string) authz.Rules {
	t.Helper()
	if len(exprs) == 0 {
		return nil
	}
	var list []rules.Rule
	for i, e := range exprs {
		list = append(list, rules.Rule{Name: fmt.Sprintf("rule-%d", i+1), Expr: e})
	}
	set, err := rules.Compile(list)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// MintFor signs a token of agent's for aud (a string, a list, or nil for
// none) with scope.
func (c Core) MintFor(t testing.TB, aud any, scope string) string {
	t.Helper()
	claims := c.IdP.Claims("agent", time.Hour, scope, "")
	claims["aud"] = aud
	return c.MintKid(t, "ec-1", claims)
}

// Reasons is an Observer that records each Check's decision reason, as the
// decision log would.
type Reasons struct {
	authz.Unobserved
	mu   sync.Mutex
	seen []string
}

func (r *Reasons) CheckDone(_ context.Context, d *authz.Decision, _, _ string, _ time.Duration) {
	r.mu.Lock()
	r.seen = append(r.seen, d.Reason)
	r.mu.Unlock()
}

// String is every reason so far, one a line.
func (r *Reasons) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.seen, "\n")
}

// MCPCall is a JSON-RPC tools/call of tool, as an MCP client posts it.
func MCPCall(tool string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
}

// DeleteNeedsAdmin is a per-tool rule: a deleting tool needs tools:admin.
const DeleteNeedsAdmin = `!(mcp.method == "tools/call" && mcp.tool.startsWith("delete_")) || "tools:admin" in token.scopes`

// HeaderValue is the value the decision sets for name, "" when it sets
// none.
func HeaderValue(d authz.Decision, name string) string {
	v, _ := Header(d, name)
	return v
}

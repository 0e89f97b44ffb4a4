package upstreamtoken_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/upstreamtoken"
)

// Minted upstream tokens as the core makes them on an allow (moved from
// the server's end-to-end suite, which keeps the served keys, discovery,
// a second authz and rotation): a real issuer's tokens in, tokens
// authz's key signed out, verified with the JWKS authz would publish.

type mintCore struct {
	*authz.Authorizer
	idp    *testidp.IdP
	keys   *upstreamtoken.KeySet
	signed *atomic.Int64
}

func newMintCore(t *testing.T, leeway time.Duration, namespaced bool) mintCore {
	t.Helper()
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	jwks, err := jwt.NewKeys(jwt.KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(jwks.Close)
	<-jwks.Ready()
	iss, err := jwt.NewIssuer(jwt.IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: []jose.SignatureAlgorithm{jose.RS256}, Audiences: []string{"orders-api"}, Keys: jwks, Leeway: leeway})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := jwt.NewSet(iss)
	file, err := testidp.WriteKeyFile(t.TempDir(), jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := upstreamtoken.NewKeySet([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	signed := &atomic.Int64{}
	minter := &upstreamtoken.Minter{Issuer: "http://authz.test", Keys: ks, Lifetime: 5 * time.Minute, OnMint: func() { signed.Add(1) }}
	bearer := []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	a, err := authz.New(authz.Options{JWT: set, CacheMaxBytes: 4 << 20, TTL: time.Minute, NegativeTTL: time.Second, Policies: []*authz.Policy{
		{Name: authz.DefaultPolicy, TokenSources: bearer, Validators: []string{"corp"},
			Upstream: []authz.Upstream{&upstreamtoken.Mint{Minter: minter, Audience: "orders", Header: upstreamtoken.Authorization, Claims: []string{"scope", "client_id"}, NamespaceSubject: namespaced, Settings: "a"}}},
		{Name: "orders-write", TokenSources: bearer, Validators: []string{"corp"}, RequireScopes: []string{"orders:write"},
			Upstream: []authz.Upstream{&upstreamtoken.Mint{Minter: minter, Audience: "orders-writer", Header: "x-identity", RequestClaims: []upstreamtoken.RequestClaim{{Claim: "htm", Part: "method"}}, Settings: "b"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return mintCore{Authorizer: a, idp: idp, keys: ks, signed: signed}
}

func (c mintCore) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	tok, err := c.idp.Mint("rsa-1", claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (c mintCore) check(policy, tok string, extra authz.MapHeader) authz.Decision {
	h := authz.MapHeader{"authorization": {"Bearer " + tok}}
	for k, v := range extra {
		h[k] = v
	}
	return c.Authorize(context.Background(), &authz.Request{Policy: policy, Method: "GET", Host: "shop.example", Path: "/orders/1", Header: h})
}

// verify checks a minted token with the JWKS authz publishes, as an
// upstream would, and returns its claims.
func (c mintCore) verify(t *testing.T, tok string) map[string]any {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.keys.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	sig, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("minted token: %v", err)
	}
	keys := set.Key(sig.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not published", sig.Signatures[0].Header.KeyID)
	}
	payload, err := sig.Verify(keys[0])
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	return claims
}

// The phantom token: the client's Authorization is replaced by a token
// authz signed, which names the upstream as aud, carries the copied
// claims only and ends no later than the client's token; Checks of one
// token get one minted token, signed once however many ask at once. The
// identity-header policy writes its own header beside the client's token,
// every spelling of it a client sent removed; a denial carries no token.
func TestMintedToken(t *testing.T) {
	c := newMintCore(t, 0, false)
	claims := c.idp.Claims("alice", time.Hour, "orders:read orders:write", "orders-api")
	claims["client_id"], claims["email"] = "shop-frontend", "alice@example.com"
	exp := time.Now().Add(90 * time.Second).Unix()
	claims["exp"] = exp
	tok := c.token(t, claims)

	got := make([]string, 32)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = coretest.HeaderValue(c.check("", tok, nil), "authorization")
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatalf("concurrent Checks of one token: different minted tokens")
		}
	}
	if n := c.signed.Load(); n != 1 {
		t.Fatalf("%d signatures for 32 Checks of one token, want 1", n)
	}
	hits := c.UpstreamCacheStats().Hits
	c.check("", tok, nil)
	if s := c.UpstreamCacheStats(); s.Hits != hits+1 || s.Cost <= 0 {
		t.Errorf("the upstream-token cache: hits %d → %d, cost %d", hits, s.Hits, s.Cost)
	}
	minted, ok := strings.CutPrefix(got[0], "Bearer ")
	if !ok || minted == tok {
		t.Fatal("the client's token was passed upstream")
	}
	mc := c.verify(t, minted)
	for k, want := range map[string]any{"iss": "http://authz.test", "aud": "orders", "sub": "alice", "scope": "orders:read orders:write",
		"client_id": "shop-frontend", "orig_iss": c.idp.Issuer()} {
		if mc[k] != want {
			t.Errorf("minted %s = %v, want %v", k, mc[k], want)
		}
	}
	if _, leaked := mc["email"]; leaked {
		t.Error("a claim the policy did not name was copied")
	}
	if e := int64(mc["exp"].(float64)); e > exp || e < exp-2 {
		t.Errorf("minted exp %d, want the client token's %d", e, exp)
	}
	if mc["jti"] == "" || mc["iat"] == nil {
		t.Errorf("minted token has no jti or iat: %v", mc)
	}
	other, _ := strings.CutPrefix(coretest.HeaderValue(c.check("", c.token(t, c.idp.Claims("alice", time.Hour, "orders:read", "orders-api")), nil), "authorization"), "Bearer ")
	if oc := c.verify(t, other); oc["jti"] == mc["jti"] {
		t.Error("two tokens' minted tokens share a jti")
	}

	d := c.check("orders-write", tok, authz.MapHeader{"x-identity": {"forged"}, "x_identity": {"forged"}})
	id := coretest.HeaderValue(d, "x-identity")
	if d.Outcome != authz.Allow || id == "" || id == "forged" || strings.HasPrefix(id, "Bearer ") {
		t.Fatalf("x-identity = %q (%v)", id, d.Outcome)
	}
	if ic := c.verify(t, id); ic["aud"] != "orders-writer" || ic["htm"] != "GET" {
		t.Errorf("identity claims %v", ic)
	}
	if coretest.HeaderValue(d, "authorization") != "" || !slices.Contains(d.RemoveHeaders, "x_identity") {
		t.Errorf("identity policy: headers %v removed %v", d.Headers, d.RemoveHeaders)
	}
	if d := c.check("", c.token(t, c.idp.Claims("old", -time.Minute, "", "orders-api")), nil); d.Outcome != authz.Invalid || len(d.Headers) != 0 {
		t.Errorf("an expired token's denial: %v, headers %v", d.Outcome, d.Headers)
	}
}

// The minted token ends at the client token's own exp, never exp +
// leeway; a token inside its leeway gets none: invalid, expired.
func TestMintedTokenNeverOutlivesTheClientsExp(t *testing.T) {
	c := newMintCore(t, 30*time.Second, false)
	soon := c.idp.Claims("alice", time.Hour, "orders:read", "orders-api")
	exp := time.Now().Add(20 * time.Second).Unix()
	soon["exp"] = exp
	d := c.check("", c.token(t, soon), nil)
	minted, _ := strings.CutPrefix(coretest.HeaderValue(d, "authorization"), "Bearer ")
	if got := int64(c.verify(t, minted)["exp"].(float64)); got != exp {
		t.Errorf("minted exp %d, want the client token's %d", got, exp)
	}
	late := c.idp.Claims("alice", time.Hour, "orders:read", "orders-api")
	late["exp"] = time.Now().Add(-5 * time.Second).Unix() // within the 30 s leeway
	d = c.check("", c.token(t, late), nil)
	if d.Outcome != authz.Invalid || coretest.HeaderValue(d, "authorization") != "" || !strings.Contains(c.Answers().WWWAuthenticate(&d), "expired") {
		t.Errorf("a token inside its leeway: %v %v", d.Outcome, d.Headers)
	}
}

// subject: namespaced mints sub as orig_iss/sub.
func TestNamespacedSubjects(t *testing.T) {
	c := newMintCore(t, 0, true)
	d := c.check("", c.token(t, c.idp.Claims("alice", time.Hour, "orders:read", "orders-api")), nil)
	minted, _ := strings.CutPrefix(coretest.HeaderValue(d, "authorization"), "Bearer ")
	if mc := c.verify(t, minted); mc["sub"] != c.idp.Issuer()+"/alice" || mc["orig_iss"] != c.idp.Issuer() {
		t.Errorf("minted sub %v orig_iss %v", mc["sub"], mc["orig_iss"])
	}
}

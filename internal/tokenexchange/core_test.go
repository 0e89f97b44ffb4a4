package tokenexchange_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
	"github.com/authz-dev/authz/internal/tokenexchange"
)

// RFC 8693 as the core runs it on an allowed Check (moved from the
// server's suite, which keeps the config's wiring, the metric and the
// logs, and replicas sharing through Redis): a real exchange against the
// test IdP's token endpoint, which speaks the RFC.

const target = "https://orders.internal/"

type exchangeCore struct {
	*authz.Authorizer
	idp     *testidp.IdP
	mu      sync.Mutex
	results []string
}

func newExchangeCore(t *testing.T, timeout time.Duration) *exchangeCore {
	t.Helper()
	idp := testsupport.NewIdP(t)
	idp.AddClient(testidp.TokenClient{ID: "authz", Secret: "s3cret"})
	idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{target}, TTL: 10 * time.Minute})
	keys, err := jwt.NewKeys(jwt.KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keys.Close)
	<-keys.Ready()
	iss, err := jwt.NewIssuer(jwt.IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: []jose.SignatureAlgorithm{jose.RS256, jose.ES256}, Audiences: []string{"orders-api"}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := jwt.NewSet(iss)
	c := &exchangeCore{idp: idp}
	step, err := tokenexchange.New(tokenexchange.Options{
		Settings: tokenexchange.Settings{TokenEndpoint: idp.TokenURL(), ClientID: "authz", Secret: "s3cret", Resources: []string{target}, Scope: "orders:read", Timeout: timeout},
		Observe: func(result string, _ time.Duration) {
			c.mu.Lock()
			c.results = append(c.results, result)
			c.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	bearer := []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	a, err := authz.New(authz.Options{JWT: set, CacheMaxBytes: 4 << 20, TTL: time.Minute, NegativeTTL: time.Second, Policies: []*authz.Policy{
		{Name: authz.DefaultPolicy, TokenSources: bearer, Validators: []string{"corp"}, Upstream: []authz.Upstream{step}},
		{Name: "optional", Token: authz.TokenOptional, TokenSources: bearer, Validators: []string{"corp"}, Upstream: []authz.Upstream{step}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	c.Authorizer = a
	return c
}

func (c *exchangeCore) client(t *testing.T, kid string) string {
	t.Helper()
	tok, err := c.idp.Mint(kid, c.idp.Claims("alice", time.Hour, "orders:read", "orders-api"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (c *exchangeCore) check(policy, tok string) authz.Decision {
	h := authz.MapHeader{}
	if tok != "" {
		h["authorization"] = []string{"Bearer " + tok}
	}
	return c.Authorize(context.Background(), &authz.Request{Policy: policy, Method: "GET", Host: "shop.example", Path: "/orders/1", Header: h})
}

func (c *exchangeCore) observed(result string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.results {
		if r == result {
			n++
		}
	}
	return n
}

func upstreamAuthorization(d authz.Decision) string {
	for _, h := range d.Headers {
		if h.Name == "authorization" {
			return h.Value
		}
	}
	return ""
}

// The upstream gets a token the authorization server issued for it in
// exchange for the client's — asked with RFC 8693's form — once per
// client token, however many Checks carry it at once; the client's token
// goes nowhere but the token endpoint.
func TestTokenExchange(t *testing.T) {
	c := newExchangeCore(t, 0)
	client := c.client(t, "rsa-1")
	d := c.check("", client)
	issued, ok := strings.CutPrefix(upstreamAuthorization(d), "Bearer op_")
	if d.Outcome != authz.Allow || !ok || issued == "" || strings.Contains(upstreamAuthorization(d), client) {
		t.Fatalf("%v (%s): upstream Authorization %q; want the exchanged token", d.Outcome, d.Reason, upstreamAuthorization(d))
	}
	form := c.idp.LastExchange()
	for key, want := range map[string]string{
		"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": client,
		"subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "resource": target, "scope": "orders:read",
		"requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
	} {
		if got := form[key]; len(got) != 1 || got[0] != want {
			t.Errorf("exchange form %s = %q, want %q", key, got, want)
		}
	}
	if _, sent := form["client_secret"]; sent {
		t.Error("the secret went in the form; client_secret_basic sends it in Authorization")
	}
	if again := c.check("", client); upstreamAuthorization(again) != upstreamAuthorization(d) || c.idp.Exchanges() != 1 {
		t.Errorf("a second Check of the token: %q, %d exchanges; want the same token from one exchange", upstreamAuthorization(again), c.idp.Exchanges())
	}

	// Twenty Checks of a new token at once: one exchange.
	fresh := c.client(t, "ec-1")
	release := c.idp.Hold()
	defer release()
	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = upstreamAuthorization(c.check("", fresh)) }()
	}
	testsupport.WaitFor(t, "the first exchange to reach the IdP", func() bool { return c.idp.Exchanges() >= 2 })
	release()
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatalf("concurrent Checks got %q", got)
		}
	}
	if n := c.idp.Exchanges(); n != 2 || c.observed("ok") != 2 {
		t.Errorf("%d exchanges (%d observed ok) for two client tokens", n, c.observed("ok"))
	}

	// No token on an optional policy: nothing to exchange, and a client's
	// own Authorization never passes.
	if d := c.check("optional", ""); d.Outcome != authz.Allow || !slices.Contains(d.RemoveHeaders, "authorization") {
		t.Errorf("optional, no token: %v, removed %v", d.Outcome, d.RemoveHeaders)
	}
}

// An authorization server that refuses, answers garbage or does not
// answer in time makes the Check an error — never an allow with the
// client's own token — and nothing of it is kept.
func TestTokenExchangeFailures(t *testing.T) {
	c := newExchangeCore(t, 300*time.Millisecond)
	idp := c.idp
	for _, tc := range []struct {
		name  string
		setup func()
	}{
		{"refused: another target", func() {
			idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{"https://other/"}, TTL: time.Minute})
		}},
		{"refused: grant off", func() { idp.SetExchange(nil) }},
		{"garbage", func() {
			idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"access_token":`})
		}},
		{"no issued_token_type", func() {
			idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"access_token":"x","token_type":"Bearer","expires_in":60}`})
		}},
		{"not a bearer token", func() {
			idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"access_token":"x","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"N_A"}`})
		}},
		{"a token that cannot go in a header", func() {
			idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"access_token":"x\r\nx-admin: 1","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer"}`})
		}},
		{"HTML", func() { idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "text/html", Body: `<html>`}) }},
		{"a 500", func() { idp.SetTokenAnswer(&testidp.Answer{Status: 500, Body: `oops`}) }},
		{"too slow", func() { idp.SetDelay(2 * time.Second) }},
	} {
		repair := func() {
			idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{target}, TTL: time.Minute})
			idp.SetTokenAnswer(nil)
			idp.SetDelay(0)
		}
		repair()
		tc.setup()
		client := c.client(t, "rsa-1")
		d := c.check("", client)
		if d.Outcome != authz.Error || strings.Contains(upstreamAuthorization(d), client) {
			t.Errorf("%s: %v, upstream Authorization %q; want error, never the client's token", tc.name, d.Outcome, upstreamAuthorization(d))
		}
		// Repaired, the same token is exchanged: the failure was not kept.
		repair()
		if d := c.check("", client); d.Outcome != authz.Allow {
			t.Errorf("%s, repaired: %v (%s)", tc.name, d.Outcome, d.Reason)
		}
	}
	if n := c.observed("refused"); n != 2 {
		t.Errorf("refusals observed %d, want 2", n)
	}
}

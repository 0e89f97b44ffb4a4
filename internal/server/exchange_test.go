package server

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

const exchangeTarget = "https://orders.internal/"

// startExchange runs the base config with a policy whose upstream gets a
// token exchanged at the test IdP's token endpoint (RFC 8693), never the
// client's.
func startExchange(t *testing.T, timeout time.Duration) *harness {
	t.Helper()
	idp := newIdP(t)
	idp.AddClient(testidp.TokenClient{ID: "authz", Secret: "s3cret"})
	idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{exchangeTarget}, TTL: 10 * time.Minute})
	cfg := baseConfig(idp)
	cfg.Policies["exchanging"] = config.Policy{UpstreamToken: &config.UpstreamToken{Source: config.SourceExchange, Exchange: &config.Exchange{
		TokenEndpoint: idp.TokenURL(), ClientID: "authz", ClientSecret: "s3cret", Resources: []string{exchangeTarget}, Scope: "orders:read", Timeout: timeout,
	}}}
	cfg.Policies["exchanging-optional"] = config.Policy{Extends: "exchanging", Token: "optional"}
	h := startWith(t, idp, cfg)
	h.waitServing()
	return h
}

// The upstream gets a token the authorization server issued for it in
// exchange for the client's — asked with RFC 8693's form — once per
// client token, however many Checks carry it at once; the client's token
// goes nowhere but the token endpoint.
func TestTokenExchange(t *testing.T) {
	t.Parallel()
	h := startExchange(t, 0)
	client := h.mint("rsa-1", h.validClaims())

	o := h.expect(h.check(withPolicy("exchanging"), withToken(client)), "allow", 200)
	issued, ok := strings.CutPrefix(o.headers["authorization"], "Bearer op_")
	if !ok || issued == "" || strings.Contains(o.headers["authorization"], client) {
		t.Fatalf("upstream Authorization %q; want the exchanged token", o.headers["authorization"])
	}
	form := h.idp.LastExchange()
	for key, want := range map[string]string{
		"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": client,
		"subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "resource": exchangeTarget, "scope": "orders:read",
		"requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
	} {
		if got := form[key]; len(got) != 1 || got[0] != want {
			t.Errorf("exchange form %s = %q, want %q", key, got, want)
		}
	}
	if _, sent := form["client_secret"]; sent {
		t.Error("the secret went in the form; client_secret_basic sends it in Authorization")
	}
	again := h.expect(h.check(withPolicy("exchanging"), withToken(client)), "allow", 200)
	if again.headers["authorization"] != o.headers["authorization"] || h.idp.Exchanges() != 1 {
		t.Errorf("a second Check of the token: %q, %d exchanges; want the same token from one exchange", again.headers["authorization"], h.idp.Exchanges())
	}

	// Twenty Checks of a new token at once: one exchange.
	fresh := h.mint("ec-1", h.validClaims())
	release := h.idp.Hold()
	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = read(h.check(withPolicy("exchanging"), withToken(fresh))).headers["authorization"]
		}()
	}
	waitFor(t, "the first exchange to reach the IdP", func() bool { return h.idp.Exchanges() == 2 })
	release()
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatalf("concurrent Checks got %q", got)
		}
	}
	if n := h.idp.Exchanges(); n != 2 {
		t.Errorf("%d exchanges for two client tokens", n)
	}
	if m := h.metric(`authz_token_exchanges_total{result="ok"}`); m != 2 {
		t.Errorf("authz_token_exchanges_total{result=ok} = %v", m)
	}

	// No token on an optional policy: nothing to exchange, and a client's
	// own Authorization never passes.
	o = h.expect(h.check(withPolicy("exchanging-optional")), "allow", 200)
	if !contains(o.removed, "authorization") {
		t.Errorf("optional, no token: removed %v", o.removed)
	}
	if strings.Contains(h.logs.String(), client) || strings.Contains(h.logs.String(), fresh) {
		t.Error("a client token reached the log")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// An authorization server that refuses, answers garbage or does not
// answer in time makes the Check an error — never an allow with the
// client's own token — and nothing of it is cached.
func TestTokenExchangeFailures(t *testing.T) {
	t.Parallel()
	h := startExchange(t, 300*time.Millisecond)
	cases := []struct {
		name  string
		setup func()
	}{
		{"refused: another target", func() {
			h.idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{"https://other/"}, TTL: time.Minute})
		}},
		{"refused: grant off", func() { h.idp.SetExchange(nil) }},
		{"garbage", func() {
			h.idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"access_token":`})
		}},
		{"no issued_token_type", func() {
			h.idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"access_token":"x","token_type":"Bearer","expires_in":60}`})
		}},
		{"not a bearer token", func() {
			h.idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"access_token":"x","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"N_A"}`})
		}},
		{"a token that cannot go in a header", func() {
			h.idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"access_token":"x\r\nx-admin: 1","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer"}`})
		}},
		{"HTML", func() { h.idp.SetTokenAnswer(&testidp.Answer{Status: 200, ContentType: "text/html", Body: `<html>`}) }},
		{"a 500", func() { h.idp.SetTokenAnswer(&testidp.Answer{Status: 500, Body: `oops`}) }},
		{"too slow", func() { h.idp.SetDelay(2 * time.Second) }},
	}
	for _, c := range cases {
		h.idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{exchangeTarget}, TTL: time.Minute})
		h.idp.SetTokenAnswer(nil)
		h.idp.SetDelay(0)
		c.setup()
		client := h.mint("rsa-1", h.validClaims())
		o := h.expect(h.check(withPolicy("exchanging"), withToken(client)), "error", 503)
		if strings.Contains(o.headers["authorization"], client) {
			t.Errorf("%s: the client's token was passed on", c.name)
		}
		// Repaired, the same token is exchanged: the failure was not kept.
		h.idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{exchangeTarget}, TTL: time.Minute})
		h.idp.SetTokenAnswer(nil)
		h.idp.SetDelay(0)
		h.expect(h.check(withPolicy("exchanging"), withToken(client)), "allow", 200)
	}
	if m := h.metric(`authz_token_exchanges_total{result="refused"}`); m != 2 {
		t.Errorf("refusals counted %v, want 2", m)
	}
	if strings.Contains(h.logs.String(), "s3cret") {
		t.Error("the client secret reached the log")
	}
}

// Replicas on one Redis exchange a client token once: the first stores
// the issued token (sealed by the client's token), the others take it; at
// once, the lease's holder exchanges and the others wait for it.
func TestTokenExchangeAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := testsupport.StartRedis(t)
	idp := newIdP(t)
	idp.AddClient(testidp.TokenClient{ID: "authz", Secret: "s3cret"})
	idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{exchangeTarget}, TTL: 10 * time.Minute})
	replica := func() *harness {
		cfg := sharedConfig(t, idp, rs.Addr)
		cfg.Cache.Redis.Timeout = 5 * time.Second
		cfg.Cache.Redis.Lease = ptr(10 * time.Second)
		cfg.Policies["exchanging"] = config.Policy{UpstreamToken: &config.UpstreamToken{Source: config.SourceExchange, Exchange: &config.Exchange{
			TokenEndpoint: idp.TokenURL(), ClientID: "authz", ClientSecret: "s3cret", Resources: []string{exchangeTarget},
		}}}
		return startIntrospect(t, idp, cfg)
	}
	a, b := replica(), replica()
	client := a.mint("rsa-1", a.validClaims())
	oa := a.expect(a.check(withPolicy("exchanging"), withToken(client)), "allow", 200)
	ob := b.expect(b.check(withPolicy("exchanging"), withToken(client)), "allow", 200)
	if oa.headers["authorization"] == "" || oa.headers["authorization"] != ob.headers["authorization"] || idp.Exchanges() != 1 {
		t.Errorf("two replicas: %q and %q from %d exchanges; want one token from one exchange", oa.headers["authorization"], ob.headers["authorization"], idp.Exchanges())
	}
	// While one replica's exchange is in flight (it holds the lease, the
	// authorization server held), the other asks for the same token: it
	// waits for the lease's value, or finds it stored, never exchanges.
	fresh := a.mint("ec-1", a.validClaims())
	release := idp.Hold()
	got := make(chan string, 2)
	check := func(h *harness) {
		got <- read(h.check(withPolicy("exchanging"), withToken(fresh))).headers["authorization"]
	}
	go check(a)
	waitFor(t, "the lease holder's exchange to reach the IdP", func() bool { return idp.Exchanges() == 2 })
	go check(b)
	release()
	if x, y := <-got, <-got; x == "" || x != y || idp.Exchanges() != 2 {
		t.Errorf("at once: %q and %q from %d exchanges in all; want one more", x, y, idp.Exchanges())
	}
}

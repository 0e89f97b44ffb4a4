package server

import (
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/redistest"
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
	h := startWith(t, idp, cfg)
	h.waitServing()
	return h
}

// The config's exchange at a running server: the upstream gets the
// exchanged token, counted; a refusal is a 503, counted; neither the
// client's token nor the client secret reaches the log. (The exchange's
// form, its flight and its failures are internal/tokenexchange's tests.)
func TestTokenExchangeAtTheServer(t *testing.T) {
	t.Parallel()
	h := startExchange(t, 0)
	client := h.mint("rsa-1", h.validClaims())
	o := h.expect(h.check(withPolicy("exchanging"), withToken(client)), "allow", 200)
	if issued, ok := strings.CutPrefix(o.Headers["authorization"], "Bearer op_"); !ok || issued == "" {
		t.Fatalf("upstream Authorization %q; want the exchanged token", o.Headers["authorization"])
	}
	if m := h.metric(`authz_token_exchanges_total{result="ok"}`); m != 1 {
		t.Errorf("authz_token_exchanges_total{result=ok} = %v", m)
	}
	h.idp.SetExchange(&testidp.ExchangePolicy{Targets: []string{"https://other/"}, TTL: time.Minute})
	refused := h.mint("ec-1", h.validClaims())
	if o := h.expect(h.check(withPolicy("exchanging"), withToken(refused)), "error", 503); strings.Contains(o.Headers["authorization"], refused) {
		t.Error("a refused exchange passed the client's token on")
	}
	if m := h.metric(`authz_token_exchanges_total{result="refused"}`); m != 1 {
		t.Errorf("authz_token_exchanges_total{result=refused} = %v", m)
	}
	for _, secret := range []string{client, refused, "s3cret"} {
		if strings.Contains(h.logs.String(), secret) {
			t.Error("a client token or the client secret reached the log")
		}
	}
}

// Replicas on one Redis exchange a client token once: the first stores
// the issued token (sealed by the client's token), the others take it; at
// once, the lease's holder exchanges and the others wait for it.
func TestTokenExchangeAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
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
	if oa.Headers["authorization"] == "" || oa.Headers["authorization"] != ob.Headers["authorization"] || idp.Exchanges() != 1 {
		t.Errorf("two replicas: %q and %q from %d exchanges; want one token from one exchange", oa.Headers["authorization"], ob.Headers["authorization"], idp.Exchanges())
	}
	// While one replica's exchange is in flight (it holds the lease, the
	// authorization server held), the other asks for the same token: it
	// waits for the lease's value, or finds it stored, never exchanges.
	fresh := a.mint("ec-1", a.validClaims())
	release := idp.Hold()
	got := make(chan string, 2)
	check := func(h *harness) {
		got <- read(h.check(withPolicy("exchanging"), withToken(fresh))).Headers["authorization"]
	}
	go check(a)
	testsupport.WaitFor(t, "the lease holder's exchange to reach the IdP", func() bool { return idp.Exchanges() == 2 })
	go check(b)
	release()
	if x, y := <-got, <-got; x == "" || x != y || idp.Exchanges() != 2 {
		t.Errorf("at once: %q and %q from %d exchanges in all; want one more", x, y, idp.Exchanges())
	}
}

package server

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
)

// introspectConfig adds an RFC 7662 endpoint at the IdP.
func introspectConfig(idp *testidp.IdP) *config.Config {
	return &config.Config{
		GRPC:  config.GRPC{Addr: "127.0.0.1:0"},
		HTTP:  config.HTTP{Addr: "127.0.0.1:0", Proxy: "envoy"},
		Cache: config.Cache{TTL: 30 * time.Second, NegativeTTL: ptr(5 * time.Second), MaxBytes: 8 << 20},
		Issuers: []config.Issuer{{
			Name: "corp", Issuer: idp.Issuer(), JWKSURL: idp.JWKSURL(),
			Audiences: []string{"orders-api"}, Leeway: ptr(time.Duration(0)),
		}},
		Introspection: []config.Introspection{{
			Name: "corp-introspect", Endpoint: idp.IntrospectionURL(), ClientID: "authz", ClientSecret: "s3cret",
			Timeout: 500 * time.Millisecond, MaxResponseBytes: 4096,
		}},
		Policies: map[string]config.Policy{
			"default": {Headers: map[string]string{"sub": "x-user-id", "username": "x-username", "scope": "x-scopes", "client_id": "x-client-id"}},
		},
		Log: config.Log{Level: "debug"},
	}
}

func startIntrospect(t *testing.T, idp *testidp.IdP, cfg *config.Config) *harness {
	t.Helper()
	h := startWith(t, idp, cfg)
	h.waitServing()
	return h
}

func (h *harness) opaque(sub string, ttl time.Duration) string {
	c := h.idp.Claims(sub, ttl, "orders:read", "orders-api")
	c["username"] = sub + "@example.com"
	return h.idp.IssueOpaque(c)
}

// An IdP failure at a running server (the table of failures is the
// core's: authz/introspect): the Check is an error, logged with its
// reason, and the replica stays in the load balancer.
func TestIntrospectionFailureAtTheServer(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startIntrospect(t, idp, introspectConfig(idp))
	tok := h.opaque("erin", time.Hour)
	idp.SetAnswer(&testidp.Answer{Status: 429, Body: `{"error":"slow_down"}`})
	o := h.expect(h.check(withToken(tok)), "error", 503)
	if _, ok := o.headers["www-authenticate"]; ok {
		t.Error("an IdP failure must not challenge the client")
	}
	if h.health() != healthpb.HealthCheckResponse_SERVING {
		t.Error("an IdP outage must not take the replica out of the load balancer")
	}
	idp.SetAnswer(nil)
	h.expect(h.check(withToken(tok)), "allow", 200)
	if !strings.Contains(h.logs.String(), `"outcome":"error"`) || !strings.Contains(h.logs.String(), "introspect corp-introspect: status 429") {
		t.Errorf("error decisions are not logged with their reason:\n%s", h.logs)
	}
}

// The client secret as the config resolves it: from the environment
// (bearer) or a file.
func TestIntrospectionSecretFromEnvAndFile(t *testing.T) {
	t.Setenv("AUTHZ_TEST_INTROSPECT_TOKEN", "static-token-123")
	idp := newIdP(t)
	idp.SetClient(testidp.ClientAuth{Method: "bearer", Secret: "static-token-123"})
	cfg := introspectConfig(idp)
	in := &cfg.Introspection[0]
	in.AuthMethod, in.ClientID, in.ClientSecret = "bearer", "", "${AUTHZ_TEST_INTROSPECT_TOKEN}"
	h := startIntrospect(t, idp, cfg)
	h.expect(h.check(withToken(h.opaque("gina", time.Hour))), "allow", 200)

	idp2 := newIdP(t)
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte("s3cret\n"), 0o600)
	cfg = introspectConfig(idp2)
	cfg.Introspection[0].ClientSecret, cfg.Introspection[0].ClientSecretFile = "", file
	h2 := startIntrospect(t, idp2, cfg)
	h2.expect(h2.check(withToken(h2.opaque("hank", time.Hour))), "allow", 200)
}

func TestIntrospectionTLS(t *testing.T) {
	t.Parallel()
	idp, err := testidp.NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	// The JWKS must be reachable for readiness; serve it from a file.
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwks, []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k"}]}`), 0o600)
	jwksFromFile := func() *config.Config {
		cfg := introspectConfig(idp)
		cfg.Issuers[0].JWKSURL, cfg.Issuers[0].JWKSFile = "", jwks
		return cfg
	}
	t.Run("untrusted certificate is an error", func(t *testing.T) {
		h := startIntrospect(t, idp, jwksFromFile())
		h.expect(h.check(withToken(h.opaque("frank", time.Hour))), "error", 503)
	})
	t.Run("trusted through ca_file", func(t *testing.T) {
		ca := filepath.Join(dir, "ca.pem")
		os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Server.Certificate().Raw}), 0o600)
		cfg := jwksFromFile()
		cfg.Introspection[0].CAFile = ca
		h := startIntrospect(t, idp, cfg)
		h.expect(h.check(withToken(h.opaque("frank", time.Hour))), "allow", 200)
	})
}

func TestIntrospectionCachingAndStampede(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Cache.TTL = 3 * time.Second
	// The held introspection must outlast the Checks' arrival, however slow.
	cfg.Introspection[0].Timeout = 20 * time.Second
	h := startIntrospect(t, idp, cfg)
	tok := h.opaque("ivan", time.Hour)
	// The IdP answers only once every Check is in the server: each arrives
	// while the first is asking, however slow the machine.
	release := idp.Hold()
	defer release()
	before := idp.Introspections()
	const n = 1000
	for _, o := range h.checkAllAtOnce(tok, n, release) {
		if o.name != "allow" {
			t.Fatalf("a concurrent Check: %s", o.name)
		}
	}
	judged := time.Now()
	if got := idp.Introspections() - before; got != 1 {
		t.Errorf("%d introspections for %d concurrent Checks of one new token, want 1", got, n)
	}
	h.expect(h.check(withToken(tok)), "allow", 200)
	if got := idp.Introspections() - before; got != 1 {
		t.Errorf("a Check within the TTL asked the IdP (%d requests)", got)
	}
	time.Sleep(time.Until(judged.Add(cfg.Cache.TTL + 100*time.Millisecond))) // past cache.ttl
	h.expect(h.check(withToken(tok)), "allow", 200)
	if got := idp.Introspections() - before; got != 2 {
		t.Errorf("after the TTL: %d requests, want 2", got)
	}
}

func TestIntrospectionExpBoundsTheCache(t *testing.T) {
	waitsOnClock(t)
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	// A loaded machine must not turn the first introspection into an
	// error (the config's 500 ms timeout), nor let exp pass before the
	// second Check: a generous timeout, an exp 4-5 s out.
	cfg := introspectConfig(idp) // cache.ttl 30s
	cfg.Introspection[0].Timeout = 10 * time.Second
	h := startIntrospect(t, idp, cfg)
	exp := time.Now().Add(4 * time.Second).Truncate(time.Second).Add(time.Second)
	c := idp.Claims("judy", time.Hour, "orders:read", "orders-api")
	c["exp"] = exp.Unix()
	tok := idp.IssueOpaque(c)
	h.expect(h.check(withToken(tok)), "allow", 200)
	h.expect(h.check(withToken(tok)), "allow", 200)
	if got := idp.Introspections(); got != 1 {
		t.Fatalf("%d introspections, want 1 (second from the cache)", got)
	}
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	h.expect(h.check(withToken(tok)), "invalid", 401)
	if got := idp.Introspections(); got != 2 {
		t.Errorf("after exp the cache still answered (%d introspections, want 2)", got)
	}
	// An IdP that says active for a token whose exp has passed is not believed.
	stale := idp.Claims("kim", time.Hour, "", "orders-api")
	stale["exp"] = float64(time.Now().Add(-time.Minute).Unix())
	idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: fmt.Sprintf(`{"active":true,"sub":"kim","exp":%d}`, time.Now().Add(-time.Minute).Unix())})
	h.expect(h.check(withToken("op_stale")), "invalid", 401)
}

func TestRevokedJWTIsDeniedAfterItsCachedResultExpires(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Cache.TTL = time.Second
	cfg.Issuers[0].Introspect = "corp-introspect"
	h := startIntrospect(t, idp, cfg)
	tok := h.mint("rsa-1", h.validClaims())
	h.expect(h.check(withToken(tok)), "allow", 200)
	if got := idp.Introspections(); got != 1 {
		t.Fatalf("a JWT of an issuer with introspect: made %d introspections, want 1", got)
	}
	idp.Revoke(tok)                                 // global logout
	h.expect(h.check(withToken(tok)), "allow", 200) // served from the cache
	time.Sleep(1100 * time.Millisecond)
	h.expect(h.check(withToken(tok)), "invalid", 401)
	// An IdP failure during that introspection is an error, not an allow.
	tok2 := h.mint("ec-1", h.validClaims())
	idp.SetDown(true)
	h.expect(h.check(withToken(tok2)), "error", 503)
}

func TestIntrospectedTokenNeverLogged(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startIntrospect(t, idp, introspectConfig(idp))
	good := h.opaque("liam", time.Hour)
	revoked := h.opaque("mia", time.Hour)
	idp.Revoke(revoked)
	h.check(withToken(good))
	h.check(withToken(revoked))
	idp.SetAnswer(&testidp.Answer{Status: 500})
	h.check(withToken(h.opaque("noah", time.Hour)))
	idp.SetAnswer(nil)
	idp.SetDown(true)
	other := h.opaque("olga", time.Hour)
	h.check(withToken(other))
	logs := h.logs.String()
	for _, tok := range []string{good, revoked, other, "s3cret"} {
		if strings.Contains(logs, tok) || strings.Contains(logs, strings.TrimPrefix(tok, "op_")) {
			t.Errorf("the logs contain a token or the client secret")
		}
	}
	if !strings.Contains(logs, `"outcome":"invalid"`) || !strings.Contains(logs, `"outcome":"error"`) {
		t.Errorf("decisions not logged:\n%s", logs)
	}
}

// A hot token is refreshed ahead of expiry: Checks keep the cached answer
// while the one refresh asks the IdP, and an inactive answer replaces it.
func TestHotTokenIsRefreshedAhead(t *testing.T) {
	waitsOnClock(t)
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Cache.TTL, cfg.Cache.RefreshAhead = 2*time.Second, "50%"
	cfg.Introspection[0].Timeout = 3 * time.Second
	h := startIntrospect(t, idp, cfg)
	tok := h.opaque("hana", time.Hour)
	h.expect(h.check(withToken(tok)), "allow", 200)
	expires := time.Now().Add(cfg.Cache.TTL) // no earlier than this
	before := idp.Introspections()

	time.Sleep(1100 * time.Millisecond) // into the last half of the TTL
	idp.SetDelay(300 * time.Millisecond)
	for range 20 {
		o := h.expect(h.check(withToken(tok)), "allow", 200)
		if o.headers["x-user-id"] != "hana" {
			t.Fatalf("x-user-id %q", o.headers["x-user-id"])
		}
	}
	waitFor(t, "the refresh", func() bool { return h.metric(`authz_refreshes_total{result="ok"}`) > 0 })
	idp.SetDelay(0)
	// Past the first answer's TTL, with the IdP down: the refreshed
	// answer serves; without the refresh this Check would be an error.
	idp.SetDown(true)
	time.Sleep(time.Until(expires) + 100*time.Millisecond)
	h.expect(h.check(withToken(tok)), "allow", 200)
	idp.SetDown(false)
	if got := idp.Introspections() - before; got != 1 {
		t.Errorf("%d introspections for a hot token across its expiry, want 1 (the refresh)", got)
	}
	if got := h.metric(`authz_refreshes_total{result="ok"}`); got != 1 {
		t.Errorf("authz_refreshes_total ok = %v", got)
	}

	// Revoked at the IdP: the next refresh's active:false takes effect at once.
	idp.Revoke(tok)
	time.Sleep(1100 * time.Millisecond)
	h.check(withToken(tok)) // starts the refresh
	deadline := time.Now().Add(3 * time.Second)
	for read(h.check(withToken(tok))).name != "invalid" {
		if time.Now().After(deadline) {
			t.Fatal("an inactive answer from a refresh did not replace the cached allow")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// For a JWT introspected with introspect:, an answer about another token
// (a replayed answer for alice, a misrouted one) is broken: an error,
// never an allow under the JWT's claims.
func TestAnIntrospectionAnswerAboutAnotherTokenIsAnError(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Issuers[0].Introspect = "corp-introspect"
	h := startIntrospect(t, idp, cfg)
	exp := time.Now().Add(time.Hour).Unix()
	for name, answer := range map[string]string{
		"another sub": fmt.Sprintf(`{"active":true,"sub":"bob","exp":%d}`, exp),
		"another jti": fmt.Sprintf(`{"active":true,"sub":"alice","jti":"someone-elses","exp":%d}`, exp),
	} {
		idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: answer})
		claims := h.validClaims()
		claims["jti"] = "mine-" + strings.ReplaceAll(name, " ", "-")
		o := read(h.check(withToken(h.mint("rsa-1", claims))))
		if o.name != "error" {
			t.Errorf("%s: %s, want error", name, o.name)
		}
	}
	idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: fmt.Sprintf(`{"active":true,"sub":"alice","exp":%d}`, exp)})
	h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "allow", 200)
}

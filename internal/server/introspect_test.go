package server

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
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
	if _, ok := o.Headers["www-authenticate"]; ok {
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

// A background refresh is counted (the refresh itself, ahead of expiry and
// under load, is the core's: authz/introspect's cache tests).
func TestRefreshesAreCounted(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Cache.TTL, cfg.Cache.RefreshAhead = time.Second, "50%"
	cfg.Introspection[0].Timeout = 5 * time.Second
	h := startIntrospect(t, idp, cfg)
	tok := h.opaque("hana", time.Hour)
	h.expect(h.check(withToken(tok)), "allow", 200)
	time.Sleep(600 * time.Millisecond) // into the last half of the TTL
	h.expect(h.check(withToken(tok)), "allow", 200)
	testsupport.WaitFor(t, "the refresh", func() bool { return h.metric(`authz_refreshes_total{result="ok"}`) == 1 })
}

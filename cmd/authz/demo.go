//go:build !nodemo

// The demo links the test IdP (internal/testidp) into the binary: that is
// the only way it enters. Build with -tags nodemo (the container image
// does) for a binary without it; demo_off.go then answers the subcommand.

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/dpopproof"
	"github.com/authz-dev/authz/internal/keyfile"
	"github.com/authz-dev/authz/internal/server"
	"github.com/authz-dev/authz/internal/testidp"
)

// demoConfig wires one issuer (the in-process IdP) and two policies.
const demoConfig = `
grpc: { addr: "%s" }
# The HTTP door as Envoy's http_service calls it (no proxy in the demo):
# the method, Host and path after /check are the request's own.
http: { addr: "%s", proxy: envoy }
cache: { ttl: 30s, negative_ttl: 5s }
issuers:
  - name: demo
    issuer: %s
    jwks_url: %s
    algorithms: [RS256, ES256]
    audiences: [orders-api]
    leeway: 5s
introspection:
  - name: demo-introspect
    endpoint: %s/introspect
    client_id: authz
    client_secret_file: %s
    timeout: 2s
policies:
  default:
    headers: { sub: x-user-id, client_id: x-client-id, scope: x-scopes, "realm_access.roles": x-roles }
    dynamic_metadata: true
  orders-write:
    require_scopes: [orders:write]
`

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runDemo(ctx, args, stdout, stderr)
}

// runDemo serves the demo until ctx ends.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "run a demo IdP and authz on loopback, printing tokens and checks to try", stderr)
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:9191", "gRPC listen address")
	httpAddr := fs.String("http-addr", "127.0.0.1:8181", "HTTP listen address")
	envFile := fs.String("env", "demo.env", "also write the export lines to this file, for `source` in another shell (\"\": don't)")
	idpAddr := fs.String("idp-addr", "127.0.0.1:9180", "the demo IdP's address: fixed, so the demo's config names the same IdP on every run")
	configFile := fs.String("config-file", "demo-authz.yaml", "write the config the demo runs here (its introspection secret beside it, in demo-introspect-secret), for `authz serve`/`validate` against the running demo IdP (\"\": don't)")
	printConfig := fs.Bool("print-config", false, "print the config `authz demo` runs with these flags (a start for your own) and exit")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	// The introspection client secret comes from a file, as it should in
	// production; the demo IdP knows it as "s3cret". It sits beside the
	// config file, so the config names the same path every run.
	dir := ""
	if *configFile != "" {
		abs, err := filepath.Abs(*configFile)
		if err != nil {
			fmt.Fprintf(stderr, "authz demo: %v\n", err)
			return 1
		}
		*configFile, dir = abs, filepath.Dir(abs)
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "authz-demo-"); err != nil {
			fmt.Fprintf(stderr, "authz demo: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
	}
	secretFile := filepath.Join(dir, "demo-introspect-secret")
	idpURL := "http://" + *idpAddr
	if *printConfig {
		fmt.Fprintf(stdout, "# The config `authz demo` runs with these flags: its IdP answers at %s while the demo runs,\n"+
			"# and it writes this config to %s and the introspection secret to %s.%s",
			idpURL, orDash(*configFile), secretFile, fmt.Appendf(nil, demoConfig, *grpcAddr, *httpAddr, idpURL, idpURL+"/jwks.json", idpURL, secretFile))
		return 0
	}
	idp, err := testidp.NewAt(*idpAddr)
	if err != nil {
		fmt.Fprintf(stderr, "authz demo: %v (another demo running? -idp-addr chooses another address)\n", err)
		return 1
	}
	defer idp.Close()
	idp.AddClient(testidp.TokenClient{ID: "demo-client", Secret: "demo-secret", Scopes: []string{"orders:read", "orders:write"}, Audience: "orders-api", TTL: time.Hour})
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		fmt.Fprintf(stderr, "authz demo: %v\n", err)
		return 1
	}
	defer os.Remove(secretFile)
	cfgText := fmt.Appendf(nil, demoConfig, *grpcAddr, *httpAddr, idp.Issuer(), idp.JWKSURL(), idp.Issuer(), secretFile)
	if *configFile != "" {
		if err := os.WriteFile(*configFile, cfgText, 0o600); err != nil {
			fmt.Fprintf(stderr, "authz demo: %v\n", err)
			return 1
		}
		defer os.Remove(*configFile) // it names an IdP that stops with the demo
	}
	cfg, err := config.Parse(cfgText)
	if err != nil {
		fmt.Fprintf(stderr, "authz demo: %v\n", err)
		return 1
	}
	s, err := server.New(cfg, server.NewLogger(cfg.Log, stderr))
	if err != nil {
		fmt.Fprintf(stderr, "authz demo: %v\n", err)
		return 1
	}

	valid := idp.Claims("alice", time.Hour, "orders:read orders:write", "orders-api")
	valid["realm_access"] = map[string]any{"roles": []any{"admin", "buyer"}}
	expired := idp.Claims("alice", -time.Hour, "orders:read orders:write", "orders-api")
	expired["iat"], expired["nbf"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
	noScope := idp.Claims("bob", time.Hour, "orders:read", "orders-api")
	tokens := []struct {
		name, kid string
		claims    map[string]any
	}{
		{"DEMO_JWT", "rsa-1", valid},
		{"DEMO_JWT_ES256", "ec-1", valid},
		{"DEMO_JWT_EXPIRED", "rsa-1", expired},
		{"DEMO_JWT_NO_SCOPE", "rsa-1", noScope},
	}
	bin := binName()
	fmt.Fprintf(stdout, "# authz demo: an IdP at %s and authz on %s (gRPC) and %s (HTTP).\n", idp.Issuer(), s.GRPCAddr(), s.HTTPAddr())
	fmt.Fprintf(stdout, "# Paste these into another shell, then try the checks below. Ctrl-C stops the demo.\n")
	var env strings.Builder
	fmt.Fprintf(&env, "export AUTHZ_ADDR=%s\n", s.GRPCAddr())
	fmt.Fprintf(&env, "export AUTHZ_HTTP=http://%s\n", s.HTTPAddr())
	fmt.Fprintf(&env, "export DEMO_IDP=%s\n", idp.Issuer())
	for _, t := range tokens {
		tok, err := idp.Mint(t.kid, t.claims)
		if err != nil {
			fmt.Fprintf(stderr, "authz demo: %v\n", err)
			return 1
		}
		fmt.Fprintf(&env, "export %s=%s\n", t.name, tok)
	}
	// A DPoP-bound token (RFC 9449): its cnf.jkt names a client key, whose
	// private half the demo writes for `check -dpop-key`.
	keyFile, dpopToken, err := demoDPoP(idp, valid)
	if err != nil {
		fmt.Fprintf(stderr, "authz demo: %v\n", err)
		return 1
	}
	defer os.Remove(keyFile)
	fmt.Fprintf(&env, "export DEMO_JWT_DPOP=%s\n", dpopToken)
	fmt.Fprintf(&env, "export DEMO_DPOP_KEY=%s\n", keyFile)
	opaque := idp.Claims("carol", time.Hour, "orders:read", "orders-api")
	opaque["username"] = "carol@example.com"
	revoked := idp.IssueOpaque(opaque)
	idp.Revoke(revoked)
	fmt.Fprintf(&env, "export DEMO_OPAQUE=%s\n", idp.IssueOpaque(opaque))
	fmt.Fprintf(&env, "export DEMO_OPAQUE_REVOKED=%s\n", revoked)
	io.WriteString(stdout, env.String())
	if *configFile != "" {
		fmt.Fprintf(stdout, "# The running demo's config is %s; its introspection client secret is in %s. Both go when the demo stops.\n", *configFile, secretFile)
	} else {
		fmt.Fprintf(stdout, "# The running demo's introspection client secret is in %s.\n", secretFile)
	}
	if *envFile != "" {
		if err := os.WriteFile(*envFile, []byte(env.String()), 0o600); err != nil {
			fmt.Fprintf(stderr, "authz demo: %v\n", err)
			return 1
		}
		defer os.Remove(*envFile) // the tokens die with the demo
		fmt.Fprintf(stdout, "# The same lines are in %s: in another shell, `source %s`.\n", *envFile, *envFile)
	}
	fmt.Fprintf(stdout, `
# allow, with x-user-id, x-scopes and x-roles for the upstream:
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_JWT"
# the same user signed with ES256:
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_JWT_ES256"
# invalid (expired): 401 with WWW-Authenticate error="invalid_token":
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_JWT_EXPIRED"
# missing: 401 with WWW-Authenticate Bearer realm:
%[1]s check -addr $AUTHZ_ADDR
# forbidden on the orders-write policy (needs scope orders:write): 403:
%[1]s check -addr $AUTHZ_ADDR -policy orders-write -token "$DEMO_JWT_NO_SCOPE"
# an opaque token, validated by RFC 7662 introspection at the demo IdP: allow:
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_OPAQUE"
# a revoked opaque token (the IdP answers active:false): invalid, 401:
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_OPAQUE_REVOKED"
# a DPoP-bound token with a fresh proof signed by its key: allow:
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_JWT_DPOP" -dpop-key "$DEMO_DPOP_KEY"
# the same proof twice: the second is a replay, 401 DPoP error="invalid_dpop_proof":
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_JWT_DPOP" -dpop-key "$DEMO_DPOP_KEY" -dpop-replay
# a proof made for another URL: invalid:
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_JWT_DPOP" -dpop-key "$DEMO_DPOP_KEY" -dpop-htu https://elsewhere.example/
# the bound token as a plain Bearer token: invalid (no downgrade):
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_JWT_DPOP"
# a client-sent x-user-id never reaches the upstream:
%[1]s check -addr $AUTHZ_ADDR -token "$DEMO_JWT" -header x-user-id=mallory -json
# the HTTP door (Envoy's path-prefix mode: the path after /check): 200 with the claim headers:
curl -si -H "Authorization: Bearer $DEMO_JWT" $AUTHZ_HTTP/check/orders/1
# readiness:
curl -s $AUTHZ_HTTP/readyz
# the demo's tokens last an hour; a new one from the demo IdP (client credentials, RFC 6749 §4.4):
curl -s -u demo-client:demo-secret -d grant_type=client_credentials -d scope="orders:read orders:write" $DEMO_IDP/token
# then: export DEMO_JWT=<its access_token>
`, bin)

	if err := s.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "authz demo: %v\n", err)
		return 1
	}
	return 0
}

// binName is how the user can call this binary again: `go run` builds into a
// temporary directory that is gone once the demo stops.
func binName() string {
	b := os.Args[0]
	if strings.Contains(b, "go-build") {
		return "go run ./cmd/authz"
	}
	return b
}

// demoDPoP writes a fresh P-256 client key to a temporary file and mints a
// token bound to it.
func demoDPoP(idp *testidp.IdP, claims map[string]any) (keyFile, token string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	jkt, err := dpopproof.Thumbprint(key.Public())
	if err != nil {
		return "", "", err
	}
	bound := maps.Clone(claims)
	bound["cnf"] = map[string]any{"jkt": jkt}
	if token, err = idp.Mint("ec-1", bound); err != nil {
		return "", "", err
	}
	f, err := os.CreateTemp("", "authz-demo-dpop-*.pem")
	if err != nil {
		return "", "", err
	}
	f.Close()
	if err := keyfile.Write(f.Name(), key); err != nil {
		os.Remove(f.Name())
		return "", "", err
	}
	return f.Name(), token, nil
}

func orDash(s string) string {
	if s == "" {
		return "(no file: -config-file \"\")"
	}
	return s
}

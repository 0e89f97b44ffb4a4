package server

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
)

// writeSigningKey writes a new private key for alg to dir (readable by
// its owner only) and returns the file.
func writeSigningKey(t testing.TB, dir string, alg jose.SignatureAlgorithm) string {
	t.Helper()
	f, err := testidp.WriteKeyFile(dir, alg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// mintingConfig is baseConfig with authz's own keys: the default policy
// mints a phantom token for "orders" (scope and client_id copied), the
// orders-write policy an identity header beside the client's token.
func mintingConfig(t testing.TB, idp *testidp.IdP, keyFiles ...string) *config.Config {
	cfg := baseConfig(idp)
	cfg.UpstreamTokens = config.UpstreamTokens{Issuer: "http://authz.test", KeyFiles: keyFiles, Lifetime: 5 * time.Minute}
	def := cfg.Policies["default"]
	def.UpstreamToken = &config.UpstreamToken{Audience: "orders", Claims: []string{"scope", "client_id"}}
	cfg.Policies["default"] = def
	cfg.Policies["orders-write"] = config.Policy{RequireScopes: []string{"orders:write"},
		UpstreamToken: &config.UpstreamToken{Audience: "orders-writer", Header: "x-identity", RequestClaims: map[string]string{"htm": "method"}}}
	return cfg
}

// jwksOf fetches what h's HTTP listener serves at path.
func (h *harness) get(path string) (*http.Response, []byte) {
	h.t.Helper()
	resp, err := http.Get("http://" + h.srv.httpLn.Addr().String() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// verifyMinted checks tok against the JWKS h serves, as any upstream would,
// and returns its header's kid and its claims.
func (h *harness) verifyMinted(tok string) (string, map[string]any) {
	h.t.Helper()
	_, body := h.get("/.well-known/jwks.json")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		h.t.Fatalf("jwks %s: %v", body, err)
	}
	sig, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		h.t.Fatalf("minted token: %v", err)
	}
	kid := sig.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		h.t.Fatalf("kid %q: %d keys in the served set", kid, len(keys))
	}
	payload, err := sig.Verify(keys[0])
	if err != nil {
		h.t.Fatalf("minted token does not verify: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	return kid, claims
}

func bearer(t testing.TB, v string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok {
		t.Fatalf("authorization %q is not a bearer token", v)
	}
	return tok
}

// The phantom token at the gRPC door (what it holds is the core's:
// internal/upstreamtoken): it replaces the client's Authorization,
// verifies with the keys the HTTP listener serves, and its signature is
// counted.
func TestMintedTokenAtTheGRPCDoor(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startWith(t, idp, mintingConfig(t, idp, writeSigningKey(t, t.TempDir(), jose.ES256)))
	h.waitServing()
	tok := h.mint("rsa-1", h.validClaims())
	o := h.expect(h.check(withToken(tok)), "allow", 200)
	minted := bearer(t, o.Headers["authorization"])
	if minted == tok {
		t.Fatal("the client's token was passed upstream")
	}
	if _, mc := h.verifyMinted(minted); mc["aud"] != "orders" || mc["sub"] != "alice" {
		t.Errorf("minted claims %v", mc)
	}
	h.expect(h.check(withToken(tok)), "allow", 200)
	if n := h.metric("authz_upstream_tokens_signed_total"); n != 1 {
		t.Errorf("%v signatures for two Checks of one token, want 1", n)
	}
	if h.metric("authz_upstream_token_cache_hits_total") != 1 {
		t.Errorf("upstream-token cache hits %v, want 1", h.metric("authz_upstream_token_cache_hits_total"))
	}
}

// The inner mesh hop: a second authz that trusts the first as an issuer
// (found by discovery at the first one's HTTP listener) accepts the token
// the first minted, and refuses the client's own token there.
func TestASecondAuthzAcceptsTheMintedToken(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	dir := t.TempDir()
	outerCfg := mintingConfig(t, idp, writeSigningKey(t, dir, jose.EdDSA))
	outer := startWith(t, idp, outerCfg)
	outer.waitServing()
	// Served at the listener, so the issuer is its URL.
	issuer := "http://" + outer.srv.httpLn.Addr().String()
	outerCfg = mintingConfig(t, idp, outerCfg.UpstreamTokens.KeyFiles...)
	outerCfg.UpstreamTokens.Issuer = issuer
	if err := outer.reload(outerCfg); err != nil {
		t.Fatal(err)
	}

	innerCfg := baseConfig(idp)
	innerCfg.Issuers = []config.Issuer{{Name: "edge-authz", Issuer: issuer, Discovery: true, Algorithms: []string{"EdDSA"},
		Audiences: []string{"orders"}, Leeway: ptr(time.Duration(0))}}
	innerCfg.Policies = map[string]config.Policy{"default": {Headers: map[string]string{"sub": "x-user-id", "orig_iss": "x-original-issuer"}}}
	inner := startWith(t, idp, innerCfg)
	inner.waitServing()

	tok := outer.mint("rsa-1", outer.validClaims())
	minted := outer.expect(outer.check(withToken(tok)), "allow", 200).Headers["authorization"]
	o := inner.expect(inner.check(withHeader("authorization", minted)), "allow", 200)
	if o.Headers["x-user-id"] != "alice" || o.Headers["x-original-issuer"] != idp.Issuer() {
		t.Errorf("the inner hop read %v", o.Headers)
	}
	inner.expect(inner.check(withToken(tok)), "invalid", 401)
	// Minted for another upstream: not for this one.
	forWriter := outer.expect(outer.check(withPolicy("orders-write"), withToken(tok)), "allow", 200).Headers["x-identity"]
	inner.expect(inner.check(withToken(forWriter)), "invalid", 401)
}

// Rotation as the runbook does it: a new key is published beside the
// active one, then made active by a reload; tokens the old key signed
// still verify while it is published, and new mints use the new key.
func TestRotatedKeyKeepsOldTokensVerifiable(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	dir := t.TempDir()
	oldKey, newKey := writeSigningKey(t, dir, jose.ES256), writeSigningKey(t, dir, jose.EdDSA)
	h := startWith(t, idp, mintingConfig(t, idp, oldKey))
	h.waitServing()
	tok := h.mint("rsa-1", h.validClaims())
	before := bearer(t, h.expect(h.check(withToken(tok)), "allow", 200).Headers["authorization"])
	oldKid, _ := h.verifyMinted(before)

	// 1. Publish the new key; the old one still signs.
	if err := h.reload(mintingConfig(t, idp, oldKey, newKey)); err != nil {
		t.Fatal(err)
	}
	if again := bearer(t, h.expect(h.check(withToken(tok)), "allow", 200).Headers["authorization"]); again != before {
		t.Error("publishing a key changed the cached minted token")
	}
	// 2. Make it active.
	if err := h.reload(mintingConfig(t, idp, newKey, oldKey)); err != nil {
		t.Fatal(err)
	}
	after := bearer(t, h.expect(h.check(withToken(tok)), "allow", 200).Headers["authorization"])
	newKid, _ := h.verifyMinted(after)
	if newKid == oldKid {
		t.Fatal("the reload did not switch the active key")
	}
	if kid, _ := h.verifyMinted(before); kid != oldKid {
		t.Fatal("the old token's kid changed")
	}
	// 3. Retire the old key: its tokens no longer verify.
	if err := h.reload(mintingConfig(t, idp, newKey)); err != nil {
		t.Fatal(err)
	}
	_, body := h.get("/.well-known/jwks.json")
	if strings.Contains(string(body), oldKid) {
		t.Error("a retired key is still published")
	}
	// A key file that is not a key is refused (by validation, and by the
	// reload itself), and the running keys stay.
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	badCfg := mintingConfig(t, idp, bad)
	if err := config.Complete(badCfg); err == nil || !strings.Contains(err.Error(), "is not a private key") {
		t.Fatalf("validation of a certificate as a signing key: %v", err)
	}
	badCfg.GRPC, badCfg.HTTP, badCfg.Admin = h.srv.cfg.GRPC, h.srv.cfg.HTTP, h.srv.cfg.Admin
	if err := h.srv.Reload(badCfg); err == nil {
		t.Fatal("a reload took a certificate as a signing key")
	}
	if kid, _ := h.verifyMinted(bearer(t, h.expect(h.check(withToken(tok)), "allow", 200).Headers["authorization"])); kid != newKid {
		t.Error("a refused reload changed the signing key")
	}
}

// signedAnswersConfig asks the IdP for signed introspection answers (RFC
// 9701), verified with its JWKS, and forwards them upstream in
// x-introspection.
func signedAnswersConfig(idp *testidp.IdP) *config.Config {
	cfg := introspectConfig(idp)
	in := &cfg.Introspection[0]
	in.SignedAnswers, in.JWKSURL, in.Issuer, in.Algorithms = true, idp.JWKSURL(), idp.Issuer(), []string{"ES256"}
	cfg.Policies["default"] = config.Policy{Validators: []string{in.Name}, Headers: map[string]string{"sub": "x-user-id"},
		UpstreamToken: &config.UpstreamToken{Source: config.SourceIdP, Header: "x-introspection"}}
	return cfg
}

// RFC 9701 as the config wires it: the answer asked for signed, verified
// with the IdP's JWKS and forwarded; an unsigned answer is an error. (The
// table of broken answers is the core's: authz/introspect's signed_test.)
func TestSignedIntrospectionAnswersAreVerifiedAndForwarded(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	idp.SignAnswers("ec-1")
	h := startIntrospect(t, idp, signedAnswersConfig(idp))
	o := h.expect(h.check(withToken(h.opaque("alice", time.Hour)), withHeader("x-introspection", "forged")), "allow", 200)
	sig, err := jose.ParseSignedCompact(o.Headers["x-introspection"], []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("forwarded %q: %v", o.Headers["x-introspection"], err)
	}
	set := idp.KeySet()
	payload, err := sig.Verify(set.Key("ec-1")[0])
	if err != nil || !strings.Contains(string(payload), `"sub":"alice"`) {
		t.Fatalf("the forwarded answer %s does not verify with the IdP's key: %v", payload, err)
	}
	idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"active":true,"sub":"mallory"}`})
	if o := h.expect(h.check(withToken(h.opaque("mallory", time.Hour))), "error", 503); o.Headers["x-introspection"] != "" {
		t.Errorf("an unsigned answer forwarded %q", o.Headers["x-introspection"])
	}
}

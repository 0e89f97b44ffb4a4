package sender_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/sender"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// The sender checks as the core runs them on every Check (moved from the
// server's end-to-end suite): a real issuer's keys, the core, and proofs
// go-jose makes.

type dpopCore struct {
	*authz.Authorizer
	idp      *testidp.IdP
	verified *atomic.Int64
}

func newDPoPCore(t *testing.T, replay sender.ReplayOptions, nonces *sender.Nonces) dpopCore {
	t.Helper()
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	keys, err := jwt.NewKeys(jwt.KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keys.Close)
	<-keys.Ready()
	verified := &atomic.Int64{}
	iss, err := jwt.NewIssuer(jwt.IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: []jose.SignatureAlgorithm{jose.RS256}, Audiences: []string{"orders-api"}, Keys: keys,
		OnVerify: func() { verified.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := jwt.NewSet(iss)
	if replay.Span == 0 {
		replay.Span = 130 * time.Second
	}
	checks, err := sender.New(sender.Options{Window: time.Minute, Leeway: 5 * time.Second, Replay: sender.NewReplay(replay), Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	answers := authz.DefaultAnswers()
	answers.DPoPAlgorithms = checks.Algorithms()
	bearer := []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	a, err := authz.New(authz.Options{JWT: set, Sender: checks, Answers: answers, CacheMaxBytes: 4 << 20, TTL: time.Minute, NegativeTTL: time.Second, Policies: []*authz.Policy{
		{Name: authz.DefaultPolicy, TokenSources: bearer, Validators: []string{"corp"}},
		{Name: "dpop-only", TokenSources: bearer, Validators: []string{"corp"}, SenderConstraint: authz.SenderDPoP},
		{Name: "mtls-only", TokenSources: bearer, Validators: []string{"corp"}, SenderConstraint: authz.SenderMTLS},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return dpopCore{a, idp, verified}
}

func (c dpopCore) token(t *testing.T, jkt string) string {
	t.Helper()
	claims := c.idp.Claims("alice", time.Hour, "orders:read", "orders-api")
	if jkt != "" {
		claims["cnf"] = map[string]any{"jkt": jkt}
	}
	tok, err := c.idp.Mint("rsa-1", claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// request is GET https://shop.example/orders/1 with the headers.
func request(policy string, h authz.MapHeader) *authz.Request {
	return &authz.Request{Policy: policy, Method: "GET", Scheme: "https", Host: "shop.example", Path: "/orders/1", Header: h}
}

func dpop(token string, proofs ...string) authz.MapHeader {
	h := authz.MapHeader{"authorization": {"DPoP " + token}}
	if len(proofs) > 0 {
		h["dpop"] = proofs
	}
	return h
}

// RFC 9449 at the core: a bound token passes with its key's proof for this
// request, once; every way a proof or its use is wrong is invalid, with
// the reason the metric counts and the challenge a client acts on; and
// proofs never disturb the token's cached verdict.
func TestDPoPChecks(t *testing.T) {
	c := newDPoPCore(t, sender.ReplayOptions{}, nil)
	ctx := context.Background()
	client := testsupport.NewDPoPClient(t)
	token, unbound := c.token(t, client.JKT), c.token(t, "")

	good := client.Proof(testsupport.ProofClaims(token))
	if d := c.Authorize(ctx, request("", dpop(token, good))); d.Outcome != authz.Allow || d.Sender != "dpop" {
		t.Fatalf("a bound token with its proof: %v %q (%s)", d.Outcome, d.Sender, d.Reason)
	}
	d := c.Authorize(ctx, request("", dpop(token, good)))
	if ch := c.Answers().WWWAuthenticate(&d); d.Outcome != authz.Invalid || d.Sender != "dpop_replay" ||
		!strings.HasPrefix(ch, `DPoP realm="authz"`) || !strings.Contains(ch, `error="invalid_dpop_proof"`) || !strings.Contains(ch, `algs="ES256`) {
		t.Errorf("a replayed proof: %v %q, challenge %q", d.Outcome, d.Sender, ch)
	}

	other := testsupport.NewDPoPClient(t)
	privateJWK := func(o *jose.SignerOptions) { o.WithHeader("jwk", jose.JSONWebKey{Key: client.Key}) }
	withClaim := func(k string, v any) string {
		claims := testsupport.ProofClaims(token)
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
		return client.Proof(claims)
	}
	hmac := client.SignProof(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, false, testsupport.ProofClaims(token))
	claimsJSON, _ := json.Marshal(testsupport.ProofClaims(token))
	noneProof := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"dpop+jwt"}`)) + "." + base64.RawURLEncoding.EncodeToString(claimsJSON) + "."
	fresh := func() string { return client.Proof(testsupport.ProofClaims(token)) }

	for _, tc := range []struct {
		name, policy string
		h            authz.MapHeader
		reason, code string // code: the DPoP challenge's error, "" for a Bearer challenge
	}{
		{"wrong htm", "", dpop(token, withClaim("htm", "POST")), "dpop_htm", "invalid_dpop_proof"},
		{"htu with a query", "", dpop(token, withClaim("htu", "https://shop.example/orders/1?x=1")), "dpop_htu", "invalid_dpop_proof"},
		{"htu of another path", "", dpop(token, withClaim("htu", "https://shop.example/orders/2")), "dpop_htu", "invalid_dpop_proof"},
		{"htu of another scheme", "", dpop(token, withClaim("htu", "http://shop.example/orders/1")), "dpop_htu", "invalid_dpop_proof"},
		{"iat too old", "", dpop(token, withClaim("iat", time.Now().Add(-5*time.Minute).Unix())), "dpop_iat", "invalid_dpop_proof"},
		{"iat in the future", "", dpop(token, withClaim("iat", time.Now().Add(5*time.Minute).Unix())), "dpop_iat", "invalid_dpop_proof"},
		{"no ath", "", dpop(token, withClaim("ath", nil)), "dpop_ath", "invalid_dpop_proof"},
		{"ath of another token", "", dpop(token, withClaim("ath", testsupport.ATH(unbound))), "dpop_ath", "invalid_dpop_proof"},
		{"no jti", "", dpop(token, withClaim("jti", nil)), "dpop_jti", "invalid_dpop_proof"},
		{"jwk with the private key", "", dpop(token, client.SignProof(jose.SigningKey{Algorithm: jose.ES256, Key: client.Key}, false, testsupport.ProofClaims(token), privateJWK)), "dpop_malformed", "invalid_dpop_proof"},
		{"alg none", "", dpop(token, noneProof), "dpop_malformed", "invalid_dpop_proof"},
		{"HS256", "", dpop(token, hmac), "dpop_malformed", "invalid_dpop_proof"},
		{"typ JWT", "", dpop(token, client.Proof(testsupport.ProofClaims(token), func(o *jose.SignerOptions) { o.WithType("JWT") })), "dpop_typ", "invalid_dpop_proof"},
		{"another key than cnf.jkt", "", dpop(token, other.Proof(testsupport.ProofClaims(token))), "dpop_binding", "invalid_token"},
		{"bound token as Bearer", "", authz.MapHeader{"authorization": {"Bearer " + token}, "dpop": {fresh()}}, "dpop_downgrade", "invalid_token"},
		{"no DPoP header", "", dpop(token), "dpop_proof_count", "invalid_dpop_proof"},
		{"two DPoP headers", "", dpop(token, fresh(), fresh()), "dpop_proof_count", "invalid_dpop_proof"},
		{"unbound token with the DPoP scheme", "", dpop(unbound, client.Proof(testsupport.ProofClaims(unbound))), "dpop_unbound", "invalid_token"},
		{"policy dpop, unbound Bearer token", "dpop-only", authz.MapHeader{"authorization": {"Bearer " + unbound}}, "sender_required", ""},
		{"policy mtls, DPoP-bound token", "mtls-only", dpop(token, fresh()), "sender_required", "invalid_token"},
	} {
		d := c.Authorize(ctx, request(tc.policy, tc.h))
		ch := c.Answers().WWWAuthenticate(&d)
		if d.Outcome != authz.Invalid || d.Sender != tc.reason {
			t.Errorf("%s: %v, reason %q, want invalid, %q (%s)", tc.name, d.Outcome, d.Sender, tc.reason, d.Reason)
		}
		if tc.code == "" && !strings.HasPrefix(ch, "Bearer ") || tc.code != "" && !strings.Contains(ch, `error="`+tc.code+`"`) {
			t.Errorf("%s: challenge %q, want %q", tc.name, ch, tc.code)
		}
	}

	// htu is compared after normalisation, the query left out.
	claims := testsupport.ProofClaims(token)
	claims["htu"] = "HTTPS://Shop.Example:443/orders/%31"
	r := request("", dpop(token, client.Proof(claims)))
	r.Path = "/orders/1?expand=items"
	if d := c.Authorize(ctx, r); d.Outcome != authz.Allow {
		t.Errorf("htu compared after normalisation: %v (%s)", d.Outcome, d.Reason)
	}
	if d := c.Authorize(ctx, request("dpop-only", dpop(token, fresh()))); d.Outcome != authz.Allow {
		t.Errorf("policy dpop with a bound token: %v (%s)", d.Outcome, d.Reason)
	}
	if d := c.Authorize(ctx, request("", authz.MapHeader{"authorization": {"Bearer " + unbound}})); d.Outcome != authz.Allow {
		t.Errorf("unbound Bearer tokens are unaffected: %v", d.Outcome)
	}
	if n := c.verified.Load(); n != 2 {
		t.Errorf("%d signature verifications of two tokens: the proofs must not disturb the token cache", n)
	}
}

// One client with its own valid token and key floods proofs: it fills its
// share of the replay set and no more, and everybody else's proofs still
// pass.
func TestOneDPoPClientCannotExhaustTheReplaySet(t *testing.T) {
	c := newDPoPCore(t, sender.ReplayOptions{MaxEntries: 50, MaxPerKey: 10}, nil)
	ctx := context.Background()
	flooder := testsupport.NewDPoPClient(t)
	floodToken := c.token(t, flooder.JKT)
	for i := range 60 {
		claims := testsupport.ProofClaims(floodToken)
		claims["jti"] = fmt.Sprint("flood-", i)
		d := c.Authorize(ctx, request("", dpop(floodToken, flooder.Proof(claims))))
		if want := i < 10; (d.Outcome == authz.Allow) != want {
			t.Fatalf("flood proof %d: %v, want allowed %v", i, d.Outcome, want)
		}
		if i >= 10 && d.Sender != "dpop_key_flood" {
			t.Errorf("flood proof %d: reason %q", i, d.Sender)
		}
	}
	for range 20 {
		client := testsupport.NewDPoPClient(t)
		tok := c.token(t, client.JKT)
		if d := c.Authorize(ctx, request("", dpop(tok, client.Proof(testsupport.ProofClaims(tok))))); d.Outcome != authz.Allow {
			t.Fatalf("another client's proof during the flood: %v (%s)", d.Outcome, d.Reason)
		}
	}
}

// selfSigned is a client certificate as the proxy hands it over: URL-encoded
// PEM, and its DER for the thumbprint a token is bound to.
func selfSigned(t *testing.T, cn string) (escapedPEM string, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))), der
}

// RFC 8705 at the core: a token bound to a certificate (cnf x5t#S256)
// passes with that certificate, from the proxy's PEM or a trusted XFCC
// hash, and is invalid with another or none; an mtls policy wants a bound
// token. (How each door finds the certificate is the server's suite.)
func TestCertificateBoundTokens(t *testing.T) {
	c := newDPoPCore(t, sender.ReplayOptions{}, nil)
	ctx := context.Background()
	clientPEM, clientDER := selfSigned(t, "orders-client")
	strangerPEM, _ := selfSigned(t, "stranger")
	sum := sha256.Sum256(clientDER)
	claims := c.idp.Claims("alice", time.Hour, "orders:read", "orders-api")
	claims["cnf"] = map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
	bound, err := c.idp.Mint("rsa-1", claims)
	if err != nil {
		t.Fatal(err)
	}
	unbound := c.token(t, "")
	withCert := func(policy, tok, certPEM, hash string) *authz.Request {
		r := request(policy, authz.MapHeader{"authorization": {"Bearer " + tok}})
		r.ClientCert, r.ClientCertHash = certPEM, hash
		return r
	}
	for _, tc := range []struct {
		name   string
		r      *authz.Request
		want   authz.Outcome
		reason string
	}{
		{"its certificate", withCert("", bound, clientPEM, ""), authz.Allow, "mtls"},
		{"its certificate's hash from XFCC", withCert("", bound, "", hex.EncodeToString(sum[:])), authz.Allow, "mtls"},
		{"another certificate", withCert("", bound, strangerPEM, ""), authz.Invalid, "mtls_binding"},
		{"no certificate", withCert("", bound, "", ""), authz.Invalid, "mtls_missing"},
		{"a hash that is not one", withCert("", bound, "", "zz"), authz.Invalid, "mtls_certificate"},
		{"policy mtls, an unbound token", withCert("mtls-only", unbound, clientPEM, ""), authz.Invalid, "sender_required"},
		{"policy mtls, a bound token", withCert("mtls-only", bound, clientPEM, ""), authz.Allow, "mtls"},
		{"an unbound token elsewhere", withCert("", unbound, "", ""), authz.Allow, ""},
	} {
		if d := c.Authorize(ctx, tc.r); d.Outcome != tc.want || d.Sender != tc.reason {
			t.Errorf("%s: %v %q, want %v %q (%s)", tc.name, d.Outcome, d.Sender, tc.want, tc.reason, d.Reason)
		}
	}
}

// With server nonces (RFC 9449 §8), a proof without the current nonce is
// answered use_dpop_nonce with a fresh one, which the next proof carries.
func TestDPoPNonce(t *testing.T) {
	nonces := sender.NewNonces([]byte(strings.Repeat("n", 40)), time.Minute, time.Now)
	c := newDPoPCore(t, sender.ReplayOptions{}, nonces)
	ctx := context.Background()
	client := testsupport.NewDPoPClient(t)
	token := c.token(t, client.JKT)
	withNonce := func(n string) string {
		claims := testsupport.ProofClaims(token)
		if n != "" {
			claims["nonce"] = n
		}
		return client.Proof(claims)
	}
	d := c.Authorize(ctx, request("", dpop(token, withNonce(""))))
	if ch := c.Answers().WWWAuthenticate(&d); d.Outcome != authz.Invalid || d.Sender != "dpop_nonce" || d.DPoPNonce == "" || !strings.Contains(ch, `error="use_dpop_nonce"`) {
		t.Fatalf("a proof without a nonce: %v %q, nonce %q, challenge %q", d.Outcome, d.Sender, d.DPoPNonce, ch)
	}
	nonce := d.DPoPNonce
	if d := c.Authorize(ctx, request("", dpop(token, withNonce(nonce)))); d.Outcome != authz.Allow {
		t.Errorf("a proof with the nonce: %v (%s)", d.Outcome, d.Reason)
	}
	if d := c.Authorize(ctx, request("", dpop(token, withNonce(nonce+"x")))); d.Outcome != authz.Invalid || d.Sender != "dpop_nonce" || d.DPoPNonce == "" {
		t.Errorf("a proof with a bad nonce: %v %q, fresh nonce %q", d.Outcome, d.Sender, d.DPoPNonce)
	}
}

package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/authz-dev/authz/internal/config"
)

// dpopClient is a client's DPoP key, with proofs made by go-jose (not by
// anything of authz's).
type dpopClient struct {
	t   *testing.T
	key *ecdsa.PrivateKey
	jkt string
}

func newDPoPClient(t *testing.T) *dpopClient {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopClient{t: t, key: key, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// proofClaims are a proof's claims for GET https://shop.example/orders/1,
// the request newCheckRequest sends.
func proofClaims(token string) map[string]any {
	return map[string]any{
		"jti": fmt.Sprintf("%d", time.Now().UnixNano()), "htm": "GET", "htu": "https://shop.example/orders/1",
		"iat": time.Now().Unix(), "ath": ath(token),
	}
}

// proof signs claims as a DPoP proof: typ dpop+jwt, the public key in jwk.
func (c *dpopClient) proof(claims map[string]any, edit ...func(*jose.SignerOptions)) string {
	return c.signProof(jose.SigningKey{Algorithm: jose.ES256, Key: c.key}, true, claims, edit...)
}

func (c *dpopClient) signProof(sk jose.SigningKey, embed bool, claims map[string]any, edit ...func(*jose.SignerOptions)) string {
	c.t.Helper()
	opts := &jose.SignerOptions{EmbedJWK: embed}
	opts.WithType("dpop+jwt")
	for _, e := range edit {
		e(opts)
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := json.Marshal(claims)
	jws, err := signer.Sign(body)
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func withDPoP(token, proof string) checkOpt {
	return func(r *authv3.CheckRequest) {
		r.Attributes.Request.Http.Headers["authorization"] = "DPoP " + token
		if proof != "" {
			r.Attributes.Request.Http.Headers["dpop"] = proof
		}
	}
}

func TestDPoP(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Policies["dpop-only"] = config.Policy{SenderConstraint: "dpop"}
	cfg.Policies["mtls-only"] = config.Policy{SenderConstraint: "mtls"}
	cfg.Log.Allow = true
	h := startWith(t, idp, cfg)
	h.waitServing()

	client := newDPoPClient(t)
	bound := h.validClaims()
	bound["cnf"] = map[string]any{"jkt": client.jkt}
	token := h.mint("rsa-1", bound)
	unbound := h.mint("rsa-1", h.validClaims())

	// The allow, then its proof again: a replay.
	good := client.proof(proofClaims(token))
	h.expect(h.check(withDPoP(token, good)), "allow", 200)
	// The allow's log line says what held the token.
	if !strings.Contains(h.logs.String(), `"outcome":"allow","reason":"","policy":"default"`) || !strings.Contains(h.logs.String(), `"sender":"dpop"`) {
		t.Errorf("the DPoP allow's log line: %s", h.logs.String())
	}
	replay := h.expect(h.check(withDPoP(token, good)), "invalid", 401)
	if c := replay.headers["www-authenticate"]; !strings.HasPrefix(c, `DPoP realm="authz"`) || !strings.Contains(c, `error="invalid_dpop_proof"`) || !strings.Contains(c, `algs="ES256`) {
		t.Errorf("replay challenge %q", c)
	}
	if n := h.metric(`authz_sender_failures_total{reason="dpop_replay"}`); n != 1 {
		t.Errorf("dpop_replay failures = %v, want 1", n)
	}

	other := newDPoPClient(t)
	privateJWK := func(o *jose.SignerOptions) {
		o.WithHeader("jwk", jose.JSONWebKey{Key: client.key}) // private d included
	}
	withClaim := func(k string, v any) string {
		c := proofClaims(token)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return client.proof(c)
	}
	hmac := client.signProof(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, false, proofClaims(token))
	noneProof := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"dpop+jwt"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(must(json.Marshal(proofClaims(token)))) + "."

	cases := []struct {
		name   string
		opts   []checkOpt
		reason string
		code   string // the DPoP challenge's error, "" for a Bearer challenge
	}{
		{"wrong htm", []checkOpt{withDPoP(token, withClaim("htm", "POST"))}, "dpop_htm", "invalid_dpop_proof"},
		{"htu with a query", []checkOpt{withDPoP(token, withClaim("htu", "https://shop.example/orders/1?x=1"))}, "dpop_htu", "invalid_dpop_proof"},
		{"htu of another path", []checkOpt{withDPoP(token, withClaim("htu", "https://shop.example/orders/2"))}, "dpop_htu", "invalid_dpop_proof"},
		{"htu of another scheme", []checkOpt{withDPoP(token, withClaim("htu", "http://shop.example/orders/1"))}, "dpop_htu", "invalid_dpop_proof"},
		{"iat too old", []checkOpt{withDPoP(token, withClaim("iat", time.Now().Add(-5*time.Minute).Unix()))}, "dpop_iat", "invalid_dpop_proof"},
		{"iat in the future", []checkOpt{withDPoP(token, withClaim("iat", time.Now().Add(5*time.Minute).Unix()))}, "dpop_iat", "invalid_dpop_proof"},
		{"no ath", []checkOpt{withDPoP(token, withClaim("ath", nil))}, "dpop_ath", "invalid_dpop_proof"},
		{"ath of another token", []checkOpt{withDPoP(token, withClaim("ath", ath(unbound)))}, "dpop_ath", "invalid_dpop_proof"},
		{"no jti", []checkOpt{withDPoP(token, withClaim("jti", nil))}, "dpop_jti", "invalid_dpop_proof"},
		{"jwk with the private key", []checkOpt{withDPoP(token, client.signProof(jose.SigningKey{Algorithm: jose.ES256, Key: client.key}, false, proofClaims(token), privateJWK))}, "dpop_malformed", "invalid_dpop_proof"},
		{"alg none", []checkOpt{withDPoP(token, noneProof)}, "dpop_malformed", "invalid_dpop_proof"},
		{"HS256", []checkOpt{withDPoP(token, hmac)}, "dpop_malformed", "invalid_dpop_proof"},
		{"typ JWT", []checkOpt{withDPoP(token, client.proof(proofClaims(token), func(o *jose.SignerOptions) { o.WithType("JWT") }))}, "dpop_typ", "invalid_dpop_proof"},
		{"another key than cnf.jkt", []checkOpt{withDPoP(token, other.proof(proofClaims(token)))}, "dpop_binding", "invalid_token"},
		{"bound token as Bearer", []checkOpt{withToken(token), withHeader("dpop", client.proof(proofClaims(token)))}, "dpop_downgrade", "invalid_token"},
		{"no DPoP header", []checkOpt{withDPoP(token, "")}, "dpop_proof_count", "invalid_dpop_proof"},
		{"two DPoP headers", []checkOpt{withHeaderMap("authorization", "DPoP "+token, "dpop", client.proof(proofClaims(token)), "dpop", client.proof(proofClaims(token)))}, "dpop_proof_count", "invalid_dpop_proof"},
		{"unbound token with the DPoP scheme", []checkOpt{withDPoP(unbound, client.proof(proofClaims(unbound)))}, "dpop_unbound", "invalid_token"},
		{"policy dpop, unbound Bearer token", []checkOpt{withPolicy("dpop-only"), withToken(unbound)}, "sender_required", ""},
		{"policy mtls, DPoP-bound token", []checkOpt{withPolicy("mtls-only"), withDPoP(token, client.proof(proofClaims(token)))}, "sender_required", "invalid_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.metric(`authz_sender_failures_total{reason="` + c.reason + `"}`)
			o := h.expect(h.check(c.opts...), "invalid", 401)
			challenge := o.headers["www-authenticate"]
			if c.code == "" && !strings.HasPrefix(challenge, "Bearer ") || c.code != "" && !strings.Contains(challenge, `error="`+c.code+`"`) {
				t.Errorf("challenge %q, want %q", challenge, c.code)
			}
			if got := h.metric(`authz_sender_failures_total{reason="`+c.reason+`"}`) - before; got != 1 {
				t.Errorf("%s failures grew by %v, want 1 (log: %s)", c.reason, got, h.logs.String())
			}
		})
	}

	t.Run("htu compared after normalisation", func(t *testing.T) {
		c := proofClaims(token)
		c["htu"] = "HTTPS://Shop.Example:443/orders/%31"
		h.expect(h.check(withDPoP(token, client.proof(c)), withHeader(":path", "/orders/1?expand=items"), func(r *authv3.CheckRequest) {
			r.Attributes.Request.Http.Path = "/orders/1?expand=items"
		}), "allow", 200)
	})
	t.Run("policy dpop with a bound token", func(t *testing.T) {
		h.expect(h.check(withPolicy("dpop-only"), withDPoP(token, client.proof(proofClaims(token)))), "allow", 200)
	})
	t.Run("unbound Bearer tokens are unaffected", func(t *testing.T) {
		h.expect(h.check(withToken(unbound)), "allow", 200)
	})
	if h.verifications() != 2 {
		t.Errorf("%v signature verifications of two tokens: the proofs must not disturb the token cache", h.verifications())
	}
}

// TestDPoPReplayAcrossReplicas: a proof used at one replica is a replay at
// another, through the shared Redis tier.
func TestDPoPReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	idp := newIdP(t)
	// A loaded test run can take Redis past its 50 ms default; a call that
	// runs out is a fault, and the replica falls back to its own replay
	// set — right under a Redis outage, wrong for this test of the shared
	// one.
	shared := func() *config.Config {
		cfg := sharedConfig(t, idp, rs.addr)
		cfg.Cache.Redis.Timeout = 5 * time.Second
		return cfg
	}
	a := startWith(t, idp, shared())
	b := startWith(t, idp, shared())
	a.waitServing()
	b.waitServing()
	client := newDPoPClient(t)
	claims := a.validClaims()
	claims["cnf"] = map[string]any{"jkt": client.jkt}
	token := a.mint("rsa-1", claims)
	proof := client.proof(proofClaims(token))
	a.expect(a.check(withDPoP(token, proof)), "allow", 200)
	b.expect(b.check(withDPoP(token, proof)), "invalid", 401)
	b.expect(b.check(withDPoP(token, client.proof(proofClaims(token)))), "allow", 200)
}

// TestCertificateBoundTokens: RFC 8705 over a real mTLS gRPC connection,
// with the client certificate where Envoy puts it
// (include_peer_certificate: source.certificate, URL-encoded PEM).
func TestCertificateBoundTokens(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	envoyCert, envoyKey := ca.issue(t, "envoy", x509.ExtKeyUsageClientAuth)
	clientCert, _ := ca.issue(t, "orders-client", x509.ExtKeyUsageClientAuth)
	strangerCert, _ := ca.issue(t, "stranger", x509.ExtKeyUsageClientAuth)
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.GRPC.TLS = ca.serverTLS(t)
	cfg.HTTP.ClientCertHeader = "x-ssl-client-cert"
	cfg.Policies["mtls-only"] = config.Policy{SenderConstraint: "mtls"}
	h := startWith(t, idp, cfg)

	conn, err := grpc.NewClient(h.srv.grpcLn.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(ca.clientTLS(t, envoyCert, envoyKey))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	grpcClient := authv3.NewAuthorizationClient(conn)

	x5t := func(certPEM []byte) string {
		block, _ := pem.Decode(certPEM)
		sum := sha256.Sum256(block.Bytes)
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	claims := h.validClaims()
	claims["cnf"] = map[string]any{"x5t#S256": x5t(clientCert)}
	token := h.mint("rsa-1", claims)
	unbound := h.mint("rsa-1", h.validClaims())
	peer := func(certPEM []byte) checkOpt {
		return func(r *authv3.CheckRequest) {
			r.Attributes.Source = &authv3.AttributeContext_Peer{Certificate: url.QueryEscape(string(certPEM))}
		}
	}
	check := func(opts ...checkOpt) *authv3.CheckResponse {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := grpcClient.Check(ctx, newCheckRequest(opts...))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	h.expect(check(withToken(token), peer(clientCert)), "allow", 200)
	h.expect(check(withToken(token), peer(strangerCert)), "invalid", 401)
	h.expect(check(withToken(token)), "invalid", 401)
	h.expect(check(withPolicy("mtls-only"), withToken(unbound), peer(clientCert)), "invalid", 401)
	h.expect(check(withPolicy("mtls-only"), withToken(token), peer(clientCert)), "allow", 200)
	if n := h.metric(`authz_sender_failures_total{reason="mtls_binding"}`); n != 1 {
		t.Errorf("mtls_binding failures = %v, want 1", n)
	}
	if n := h.metric(`authz_sender_failures_total{reason="mtls_missing"}`); n != 1 {
		t.Errorf("mtls_missing failures = %v, want 1", n)
	}

	// The HTTP door: the certificate from the header the operator named
	// (nginx's $ssl_client_escaped_cert), never from x-forwarded-client-cert
	// unless trust_xfcc says so.
	door := func(hdr map[string]string) int {
		req, _ := http.NewRequest("GET", "http://"+h.srv.httpLn.Addr().String()+"/check", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Original-URI", "/orders/1")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := door(map[string]string{"X-SSL-Client-Cert": url.QueryEscape(string(clientCert))}); s != 200 {
		t.Errorf("HTTP door with the bound certificate: %d", s)
	}
	if s := door(map[string]string{"X-SSL-Client-Cert": url.QueryEscape(string(strangerCert))}); s != 401 {
		t.Errorf("HTTP door with another certificate: %d", s)
	}
	block, _ := pem.Decode(clientCert)
	sum := sha256.Sum256(block.Bytes)
	xfcc := map[string]string{"X-Forwarded-Client-Cert": `Hash=` + hex.EncodeToString(sum[:]) + `;Subject="CN=orders-client"`}
	if s := door(xfcc); s != 401 {
		t.Errorf("HTTP door trusted an x-forwarded-client-cert it was not told to: %d", s)
	}
}

// TestCertificateBoundTokensTrustXFCC: behind a proxy that sets
// x-forwarded-client-cert afresh, its Hash is the certificate.
func TestCertificateBoundTokensTrustXFCC(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.HTTP.TrustXFCC = true
	h := startWith(t, idp, cfg)
	h.waitServing()
	der := []byte("not a real certificate, only its hash matters here")
	sum := sha256.Sum256(der)
	claims := h.validClaims()
	claims["cnf"] = map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
	token := h.mint("rsa-1", claims)
	door := func(xfcc ...string) int {
		req, _ := http.NewRequest("GET", "http://"+h.srv.httpLn.Addr().String()+"/check", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		for _, line := range xfcc {
			req.Header.Add("X-Forwarded-Client-Cert", line)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := door(`By=spiffe://cluster.local/ns/a/sa/b;Hash=` + hex.EncodeToString(sum[:]) + `;Subject="CN=x,O=y"`); s != 200 {
		t.Errorf("matching Hash: %d", s)
	}
	other := sha256.Sum256([]byte("another"))
	if s := door(`Hash=` + hex.EncodeToString(other[:])); s != 401 {
		t.Errorf("other Hash: %d", s)
	}
	// Two elements: which is the client's is a guess, so neither counts.
	if s := door(`Hash=` + hex.EncodeToString(other[:]) + `,Hash=` + hex.EncodeToString(sum[:])); s != 401 {
		t.Errorf("two XFCC elements: %d", s)
	}
	// The same two as two field lines: the first alone used to be read.
	if s := door(`Hash=`+hex.EncodeToString(sum[:]), `Hash=`+hex.EncodeToString(other[:])); s != 401 {
		t.Errorf("two XFCC field lines: %d", s)
	}
}

// TestIntrospectedBoundToken: cnf in an RFC 7662 answer binds an opaque
// token the same way.
func TestIntrospectedBoundToken(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startWith(t, idp, introspectConfig(idp))
	h.waitServing()
	client := newDPoPClient(t)
	claims := idp.Claims("alice", time.Hour, "orders:read", "orders-api")
	claims["cnf"] = map[string]any{"jkt": client.jkt}
	token := idp.IssueOpaque(claims)
	h.expect(h.check(withToken(token)), "invalid", 401)
	h.expect(h.check(withDPoP(token, client.proof(proofClaims(token)))), "allow", 200)
	h.expect(h.check(withDPoP(token, newDPoPClient(t).proof(proofClaims(token)))), "invalid", 401)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDPoPNonce: with require_nonce, a proof without the server's nonce is
// answered use_dpop_nonce with a fresh nonce, which the next proof carries.
func TestDPoPNonce(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	keyFile := filepath.Join(t.TempDir(), "nonce.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("n", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.DPoP = config.DPoP{RequireNonce: true, NonceKeyFile: keyFile}
	h := startWith(t, idp, cfg)
	h.waitServing()
	client := newDPoPClient(t)
	bound := h.validClaims()
	bound["cnf"] = map[string]any{"jkt": client.jkt}
	token := h.mint("rsa-1", bound)

	o := h.expect(h.check(withDPoP(token, client.proof(proofClaims(token)))), "invalid", 401)
	nonce := o.headers["dpop-nonce"]
	if nonce == "" || !strings.Contains(o.headers["www-authenticate"], `error="use_dpop_nonce"`) {
		t.Fatalf("no nonce challenge: %v", o.headers)
	}
	withNonce := func(n string) string {
		c := proofClaims(token)
		c["nonce"] = n
		return client.proof(c)
	}
	h.expect(h.check(withDPoP(token, withNonce(nonce))), "allow", 200)
	o = h.expect(h.check(withDPoP(token, withNonce(nonce+"x"))), "invalid", 401)
	if o.headers["dpop-nonce"] == "" {
		t.Error("a bad nonce got no fresh one")
	}
	if n := h.metric(`authz_sender_failures_total{reason="dpop_nonce"}`); n != 2 {
		t.Errorf("dpop_nonce failures = %v, want 2", n)
	}

	// The HTTP door hands the nonce over too (as Envoy's http_service
	// asks: the client's Host and path after /check).
	req, _ := http.NewRequest("GET", "http://"+h.srv.httpLn.Addr().String()+"/check/orders/1", nil)
	req.Host = "shop.example"
	req.Header.Set("Authorization", "DPoP "+token)
	req.Header.Set("DPoP", client.proof(proofClaims(token)))
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("DPoP-Nonce") == "" {
		t.Errorf("HTTP door: %d, DPoP-Nonce %q", resp.StatusCode, resp.Header.Get("DPoP-Nonce"))
	}
}

// One client with its own valid token and key floods proofs: it fills its
// share of the replay set and no more, and everybody else's proofs still
// pass (with replay_max_entries 50 they used to meet a full set: 503).
func TestOneDPoPClientCannotExhaustTheReplaySet(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.DPoP.ReplayMaxEntries, cfg.DPoP.ReplayMaxPerKey = 50, 10
	h := startWith(t, idp, cfg)
	h.waitServing()
	boundTo := func(c *dpopClient) string {
		claims := h.validClaims()
		claims["cnf"] = map[string]any{"jkt": c.jkt}
		return h.mint("rsa-1", claims)
	}
	flooder := newDPoPClient(t)
	floodToken := boundTo(flooder)
	for i := range 60 {
		c := proofClaims(floodToken)
		c["jti"] = fmt.Sprint("flood-", i)
		resp := h.check(withDPoP(floodToken, flooder.proof(c)))
		if want := i < 10; (resp.GetStatus().GetCode() == 0) != want {
			t.Fatalf("flood proof %d: allowed %v, want %v", i, !want, want)
		}
	}
	if n := h.metric(`authz_sender_failures_total{reason="dpop_key_flood"}`); n != 50 {
		t.Errorf("dpop_key_flood failures = %v, want 50", n)
	}
	if !strings.Contains(h.logs.String(), "fills its share of the replay set") {
		t.Error("the flood was not logged")
	}
	for range 5 {
		user := newDPoPClient(t)
		token := boundTo(user)
		h.expect(h.check(withDPoP(token, user.proof(proofClaims(token)))), "allow", 200)
	}
}

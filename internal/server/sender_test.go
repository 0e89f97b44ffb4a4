package server

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/redistest"
	"github.com/authz-dev/authz/internal/testsupport"
)

// The DPoP client and its proofs are testsupport's.
type dpopClient = testsupport.DPoPClient

func newDPoPClient(t *testing.T) *dpopClient { return testsupport.NewDPoPClient(t) }

func proofClaims(token string) map[string]any { return testsupport.ProofClaims(token) }

func withDPoP(token, proof string) checkOpt {
	return func(r *authv3.CheckRequest) {
		r.Attributes.Request.Http.Headers["authorization"] = "DPoP " + token
		if proof != "" {
			r.Attributes.Request.Http.Headers["dpop"] = proof
		}
	}
}

// TestDPoPReplayAcrossReplicas: a proof used at one replica is a replay at
// another, through the shared Redis tier.
func TestDPoPReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	idp := newIdP(t)
	// A loaded test run can take Redis past its 50 ms default; a call that
	// runs out is a fault, and the replica falls back to its own replay
	// set — right under a Redis outage, wrong for this test of the shared
	// one.
	shared := func() *config.Config {
		cfg := sharedConfig(t, idp, rs.Addr)
		cfg.Cache.Redis.Timeout = 5 * time.Second
		return cfg
	}
	a := startWith(t, idp, shared())
	b := startWith(t, idp, shared())
	a.waitServing()
	b.waitServing()
	client := newDPoPClient(t)
	claims := a.validClaims()
	claims["cnf"] = map[string]any{"jkt": client.JKT}
	token := a.mint("rsa-1", claims)
	proof := client.Proof(proofClaims(token))
	a.expect(a.check(withDPoP(token, proof)), "allow", 200)
	b.expect(b.check(withDPoP(token, proof)), "invalid", 401)
	b.expect(b.check(withDPoP(token, client.Proof(proofClaims(token)))), "allow", 200)
}

// TestCertificateBoundTokens: RFC 8705 over a real mTLS gRPC connection,
// with the client certificate where Envoy puts it
// (include_peer_certificate: source.certificate, URL-encoded PEM), and at
// the HTTP door in the header the operator named. (What a binding
// demands, policy mtls included, is internal/sender's core tests.)
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

// TestIntrospectedBoundToken: cnf in an RFC 7662 answer binds an opaque
// token the same way.
func TestIntrospectedBoundToken(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startWith(t, idp, introspectConfig(idp))
	h.waitServing()
	client := newDPoPClient(t)
	claims := idp.Claims("alice", time.Hour, "orders:read", "orders-api")
	claims["cnf"] = map[string]any{"jkt": client.JKT}
	token := idp.IssueOpaque(claims)
	h.expect(h.check(withToken(token)), "invalid", 401)
	h.expect(h.check(withDPoP(token, client.Proof(proofClaims(token)))), "allow", 200)
	h.expect(h.check(withDPoP(token, newDPoPClient(t).Proof(proofClaims(token)))), "invalid", 401)
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
	bound["cnf"] = map[string]any{"jkt": client.JKT}
	token := h.mint("rsa-1", bound)

	o := h.expect(h.check(withDPoP(token, client.Proof(proofClaims(token)))), "invalid", 401)
	nonce := o.Headers["dpop-nonce"]
	if nonce == "" || !strings.Contains(o.Headers["www-authenticate"], `error="use_dpop_nonce"`) {
		t.Fatalf("no nonce challenge: %v", o.Headers)
	}
	withNonce := func(n string) string {
		c := proofClaims(token)
		c["nonce"] = n
		return client.Proof(c)
	}
	h.expect(h.check(withDPoP(token, withNonce(nonce))), "allow", 200)
	o = h.expect(h.check(withDPoP(token, withNonce(nonce+"x"))), "invalid", 401)
	if o.Headers["dpop-nonce"] == "" {
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
	req.Header.Set("DPoP", client.Proof(proofClaims(token)))
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
		claims["cnf"] = map[string]any{"jkt": c.JKT}
		return h.mint("rsa-1", claims)
	}
	flooder := newDPoPClient(t)
	floodToken := boundTo(flooder)
	for i := range 60 {
		c := proofClaims(floodToken)
		c["jti"] = fmt.Sprint("flood-", i)
		resp := h.check(withDPoP(floodToken, flooder.Proof(c)))
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
		h.expect(h.check(withDPoP(token, user.Proof(proofClaims(token)))), "allow", 200)
	}
}

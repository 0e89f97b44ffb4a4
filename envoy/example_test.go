package envoy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/envoy"
)

// An embedder builds an authorizer — an issuer's keys, one policy — and
// serves Envoy's Check from its own gRPC server. These names (authz.New
// and its Options, Policy, TokenSource, ClaimHeader; jwt.NewKeys,
// NewIssuer, NewSet; introspect.New; envoy.NewServer) are the embedding
// surface docs/contributing.md promises.
func Example_embed() {
	// The issuer's key, published as a JWKS file (a URL or OIDC discovery
	// works the same way: jwt.KeysOptions).
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir, _ := os.MkdirTemp("", "authz-example-")
	defer os.RemoveAll(dir)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	file := filepath.Join(dir, "jwks.json")
	os.WriteFile(file, jwks, 0o600)

	keys, err := jwt.NewKeys(jwt.KeysOptions{File: file})
	if err != nil {
		panic(err)
	}
	issuer, err := jwt.NewIssuer(jwt.IssuerOptions{Name: "idp", Issuer: "https://idp.example", Audiences: []string{"orders"}, Keys: keys})
	if err != nil {
		panic(err)
	}
	set, err := jwt.NewSet(issuer)
	if err != nil {
		panic(err)
	}
	a, err := authz.New(authz.Options{
		JWT:           set,
		CacheMaxBytes: 1 << 20,
		TTL:           time.Minute,
		Policies: []*authz.Policy{{
			Name:          authz.DefaultPolicy,
			TokenSources:  []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}},
			Validators:    []string{"idp"},
			RequireScopes: []string{"orders:read"},
			Headers:       []authz.ClaimHeader{{Claim: "sub", Header: "x-user-id"}},
		}},
	})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	// The door on the embedder's own gRPC server; a nil observer records
	// nothing.
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, envoy.NewServer(a, nil))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Stop()

	// What Envoy would send.
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	token, _ := josejwt.Signed(signer).Claims(map[string]any{
		"iss": "https://idp.example", "aud": "orders", "sub": "alice", "scope": "orders:read",
		"exp": time.Now().Add(time.Hour).Unix(),
	}).Serialize()
	conn, _ := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/orders", Host: "shop.example", Scheme: "https",
			Headers: map[string]string{"authorization": "Bearer " + token},
		}},
	}})
	if err != nil {
		panic(err)
	}
	for _, h := range resp.GetOkResponse().GetHeaders() {
		if h.GetHeader().GetKey() == "x-user-id" {
			fmt.Println("allowed:", h.GetHeader().GetKey(), "=", h.GetHeader().GetValue())
		}
	}
	// Output: allowed: x-user-id = alice
}

package authz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/testidp"
)

// BenchmarkAuthorize measures the core alone, without gRPC framing.
func BenchmarkAuthorize(b *testing.B) {
	idp, err := testidp.New()
	if err != nil {
		b.Fatal(err)
	}
	defer idp.Close()
	keys, err := jwt.NewKeys(jwt.KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()})
	if err != nil {
		b.Fatal(err)
	}
	defer keys.Close()
	<-keys.Ready()
	iss, err := jwt.NewIssuer(jwt.IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: []jose.SignatureAlgorithm{jose.RS256, jose.ES256}, Audiences: []string{"orders-api"}, Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	set, _ := jwt.NewSet(iss)
	policy := &authz.Policy{
		Name:           authz.DefaultPolicy,
		TokenSources:   []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}},
		Validators:     []string{"corp"},
		RequireScopes:  []string{"orders:read"},
		Headers:        []authz.ClaimHeader{{Claim: "sub", Header: "x-user-id"}, {Claim: "scope", Header: "x-scopes"}, {Claim: "client_id", Header: "x-client-id"}, {Claim: "email", Header: "x-email"}},
		MaxHeaderBytes: 4096, HeaderSeparator: ",",
	}
	newAuth := func(ttl time.Duration) *authz.Authorizer {
		a, err := authz.New(authz.Options{Policies: []*authz.Policy{policy}, JWT: set, CacheMaxBytes: 64 << 20, TTL: ttl, NegativeTTL: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	request := func(kid string, i int) *authz.Request {
		tok, err := idp.Mint(kid, idp.Claims(fmt.Sprintf("user-%d", i), time.Hour, "orders:read", "orders-api"))
		if err != nil {
			b.Fatal(err)
		}
		return &authz.Request{Header: authz.MapHeader{"authorization": {"Bearer " + tok}}}
	}
	ctx := context.Background()

	b.Run("cache-hit", func(b *testing.B) {
		a := newAuth(time.Minute)
		defer a.Close()
		reqs := make([]*authz.Request, 256)
		for i := range reqs {
			reqs[i] = request("ec-1", i)
			a.Authorize(ctx, reqs[i])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if d := a.Authorize(ctx, reqs[i%len(reqs)]); d.Outcome != authz.Allow {
				b.Fatal(d.Reason)
			}
		}
	})
	for _, kid := range []string{"rsa-1", "ec-1"} {
		b.Run("cache-miss-"+kid, func(b *testing.B) {
			a := newAuth(time.Nanosecond) // every result expires at once
			defer a.Close()
			r := request(kid, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if d := a.Authorize(ctx, r); d.Outcome != authz.Allow {
					b.Fatal(d.Reason)
				}
			}
		})
	}
}

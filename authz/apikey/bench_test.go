package apikey_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/apikey"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/testidp"
)

// BenchmarkAPIKeyCheck is the core's Check of an API key beside a cached
// JWT Check, in one run. A key is judged on every Check — a hash and a map
// look-up among 100,000 keys, cheaper than a cache look-up — so warm and
// cold are one path; the targets are ≤ 1.1× and ≤ 1.2× the cached JWT.
func BenchmarkAPIKeyCheck(b *testing.B) {
	idp, err := testidp.New()
	if err != nil {
		b.Fatal(err)
	}
	defer idp.Close()
	var file strings.Builder
	var keys []string
	for i := range 100_000 {
		k, h, _ := apikey.NewKey()
		keys = append(keys, k)
		fmt.Fprintf(&file, "%s: { sub: partner-%d, scope: \"orders:read\" }\n", h, i)
	}
	path := filepath.Join(b.TempDir(), "keys.yaml")
	os.WriteFile(path, []byte(file.String()), 0o600)
	v, err := apikey.New(apikey.Options{Name: "partners", File: path})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	jwks, err := jwt.NewKeys(jwt.KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()})
	if err != nil {
		b.Fatal(err)
	}
	defer jwks.Close()
	<-jwks.Ready()
	iss, _ := jwt.NewIssuer(jwt.IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: []jose.SignatureAlgorithm{jose.ES256}, Audiences: []string{"orders-api"}, Keys: jwks})
	set, _ := jwt.NewSet(iss)
	policy := &authz.Policy{
		Name:          authz.DefaultPolicy,
		TokenSources:  []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}, {Header: "x-api-key", APIKeys: "partners"}},
		Validators:    []string{"corp", "partners"},
		RequireScopes: []string{"orders:read"},
		Headers:       []authz.ClaimHeader{{Claim: "sub", Header: "x-user-id"}},
	}
	newAuth := func(ttl time.Duration) *authz.Authorizer {
		a, err := authz.New(authz.Options{Policies: []*authz.Policy{policy}, JWT: set, APIKeys: map[string]authz.Validator{"partners": v},
			CacheMaxBytes: 64 << 20, TTL: ttl, NegativeTTL: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	ctx := context.Background()
	run := func(b *testing.B, a *authz.Authorizer, reqs []*authz.Request) {
		for _, r := range reqs {
			a.Authorize(ctx, r)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if d := a.Authorize(ctx, reqs[i%len(reqs)]); d.Outcome != authz.Allow {
				b.Fatal(d.Reason)
			}
		}
	}
	keyReqs := make([]*authz.Request, 256)
	for i := range keyReqs {
		keyReqs[i] = &authz.Request{Header: authz.MapHeader{"x-api-key": {keys[i*300]}}}
	}
	b.Run("jwt-cached", func(b *testing.B) {
		a := newAuth(time.Minute)
		defer a.Close()
		reqs := make([]*authz.Request, 256)
		for i := range reqs {
			tok, _ := idp.Mint("ec-1", idp.Claims(fmt.Sprintf("user-%d", i), time.Hour, "orders:read", "orders-api"))
			reqs[i] = &authz.Request{Header: authz.MapHeader{"authorization": {"Bearer " + tok}}}
		}
		run(b, a, reqs)
	})
	b.Run("api-key", func(b *testing.B) {
		a := newAuth(time.Minute)
		defer a.Close()
		run(b, a, keyReqs)
	})
}

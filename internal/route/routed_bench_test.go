package route_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/route"
	"github.com/authz-dev/authz/internal/rules"
)

// fixed is a validator that vouches for every token, so the benchmark
// measures policy choice, rules and headers on a cache hit.
type fixed struct{ res *authz.Result }

func (f fixed) Validate(context.Context, string) (*authz.Result, error) { return f.res, nil }

// BenchmarkAuthorizeRouted is a cache hit through 50 routes (the 40th
// matching) and two rules, beside the same hit with neither.
func BenchmarkAuthorizeRouted(b *testing.B) {
	routes := make([]route.Route, 50)
	for i := range routes {
		routes[i] = route.Route{Name: fmt.Sprintf("svc-%d", i), Policy: "default",
			Match: route.Match{Hosts: []string{fmt.Sprintf("svc-%d.shop.example", i)}, PathPrefix: fmt.Sprintf("/svc-%d/", i), Methods: []string{"GET", "POST"}}}
	}
	routes[39] = route.Route{Name: "orders", Policy: "orders", Match: route.Match{Hosts: []string{"shop.example"}, PathPrefix: "/orders/", Methods: []string{"GET", "POST"}}}
	table, err := route.New(routes)
	if err != nil {
		b.Fatal(err)
	}
	rs, err := rules.Compile([]rules.Rule{
		{Name: "reads-or-writer", Expr: `request.method in ["GET", "HEAD"] || "orders:write" in token.scopes`},
		{Name: "tenant-header", Expr: `!("x-tenant" in request.headers) || request.headers["x-tenant"] == claims.sub`},
	})
	if err != nil {
		b.Fatal(err)
	}
	bearer := []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	headers := []authz.ClaimHeader{{Claim: "sub", Header: "x-user-id"}, {Claim: "scope", Header: "x-scopes"}}
	res := &authz.Result{Validator: "corp", Claims: map[string]any{"sub": "alice", "scope": "orders:read"}, Expiry: time.Now().Add(time.Hour), Size: 200}
	newAuth := func(routed bool) *authz.Authorizer {
		opts := authz.Options{
			Policies: []*authz.Policy{
				{Name: "default", TokenSources: bearer, Validators: []string{"corp"}, Headers: headers, MaxHeaderBytes: 4096, HeaderSeparator: ","},
				{Name: "orders", TokenSources: bearer, Validators: []string{"corp"}, Headers: headers, MaxHeaderBytes: 4096, HeaderSeparator: ",", Rules: rs},
			},
			NamedValidators: map[string]authz.Validator{"corp": fixed{res}},
			CacheMaxBytes:   64 << 20, TTL: time.Minute, NegativeTTL: time.Minute,
		}
		if routed {
			opts.Router, opts.Unmatched = table, authz.UnmatchedDeny
		}
		a, err := authz.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	hdr := authz.MapHeader{
		"authorization": {"Bearer opaque-token-1"}, ":authority": {"shop.example"}, "accept": {"application/json"},
		"user-agent": {"Mozilla/5.0"}, "x-forwarded-proto": {"https"}, "x-request-id": {"3f1b8c2e"},
		"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	}
	for _, routed := range []bool{false, true} {
		name := "plain"
		if routed {
			name = "50-routes-2-rules"
		}
		b.Run(name, func(b *testing.B) {
			a := newAuth(routed)
			defer a.Close()
			ctx := context.Background()
			a.Authorize(ctx, &authz.Request{Method: "GET", Host: "shop.example", Path: "/orders/1?expand=items", Header: hdr})
			time.Sleep(20 * time.Millisecond)
			b.ReportAllocs()
			for b.Loop() {
				d := a.Authorize(ctx, &authz.Request{Method: "GET", Host: "shop.example", Path: "/orders/1?expand=items", Header: hdr})
				if d.Outcome != authz.Allow {
					b.Fatalf("%v %s", d.Outcome, d.Reason)
				}
			}
		})
	}
	b.Run("route-only", func(b *testing.B) {
		r := &authz.Request{Method: "GET", Host: "shop.example", Path: "/orders/1?expand=items", Header: hdr}
		b.ReportAllocs()
		for b.Loop() {
			if name, _, _ := table.Route(r); name != "orders" {
				b.Fatal(name)
			}
		}
	})
}

package envoy

import (
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/authz"
)

// BenchmarkConvert is the door's own cost: CheckRequest → authz.Request
// (with the token lookup the core does) and Decision → CheckResponse.
func BenchmarkConvert(b *testing.B) {
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
		Method: "GET", Path: "/orders/1", Host: "shop.example",
		Headers: map[string]string{
			":authority": "shop.example", ":method": "GET", ":path": "/orders/1", "accept": "application/json",
			"accept-encoding": "gzip", "user-agent": "curl/8", "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https",
			"x-request-id": "3f1b8c2e", "traceparent": "00-4bf9-00f0-01", "authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
			"content-type": "application/json",
		},
	}}}}
	d := authz.Decision{
		Outcome:       authz.Allow,
		Headers:       []authz.HeaderValue{{Name: "x-user-id", Value: "alice"}, {Name: "x-scopes", Value: "orders:read"}, {Name: "x-client-id", Value: "web"}},
		RemoveHeaders: []string{"x_user_id", "x_scopes", "x_client_id", "x-email"},
	}
	ans := &authz.Answers{OutcomeHeader: "x-authz-outcome", Realm: "authz"}
	ans.ByOutcome[authz.Allow] = authz.Answer{Status: 200}
	b.ReportAllocs()
	for b.Loop() {
		r := toRequest(req)
		if len(r.Header.Values("authorization")) != 1 {
			b.Fatal("no token")
		}
		if toResponse(&d, ans).GetOkResponse() == nil {
			b.Fatal("no ok response")
		}
	}
}

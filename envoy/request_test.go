package envoy

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

func checkRequest(http *authv3.AttributeContext_HttpRequest, ext map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request:           &authv3.AttributeContext_Request{Http: http},
		ContextExtensions: ext,
	}}
}

func TestToRequest(t *testing.T) {
	t.Run("the request line and the operator's policy", func(t *testing.T) {
		r := toRequest(checkRequest(&authv3.AttributeContext_HttpRequest{Method: "POST", Path: "/orders?x=1", Host: "shop.example:8443"}, map[string]string{"policy": "orders-write"}))
		if r.Method != "POST" || r.Path != "/orders?x=1" || r.Host != "shop.example:8443" || r.Policy != "orders-write" {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("a client header never names the policy", func(t *testing.T) {
		r := toRequest(checkRequest(&authv3.AttributeContext_HttpRequest{Headers: map[string]string{"x-authz-policy": "default", "policy": "default"}}, nil))
		if r.Policy != "" {
			t.Errorf("policy %q from a client header", r.Policy)
		}
	})
	t.Run("header_map values arrive in raw_value", func(t *testing.T) {
		r := toRequest(checkRequest(&authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "authorization", RawValue: []byte("Bearer raw")},
			{Key: "X-Mixed", Value: "plain"},
			{Key: "x-mixed", RawValue: []byte("second")},
		}}}, nil))
		if got := r.Header.Values("authorization"); !slices.Equal(got, []string{"Bearer raw"}) {
			t.Errorf("authorization %q", got)
		}
		if got := r.Header.Values("x-mixed"); !slices.Equal(got, []string{"plain", "second"}) {
			t.Errorf("x-mixed %q: header_map names match case-insensitively and keep every value", got)
		}
	})
	t.Run("both forms: one value once", func(t *testing.T) {
		r := toRequest(checkRequest(&authv3.AttributeContext_HttpRequest{
			Headers:   map[string]string{"authorization": "Bearer t"},
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "authorization", RawValue: []byte("Bearer t")}}},
		}, nil))
		if got := r.Header.Values("authorization"); len(got) != 1 {
			t.Errorf("authorization %q", got)
		}
		var names []string
		r.Header.Names(func(n string) { names = append(names, n) })
		if !slices.Contains(names, "authorization") {
			t.Errorf("names %q", names)
		}
	})
}

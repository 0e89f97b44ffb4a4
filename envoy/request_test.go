package envoy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/authz"
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

// Each walks both header forms once and yields, per name, what Values does.
func TestHeaderEachMatchesValues(t *testing.T) {
	r := toRequest(checkRequest(&authv3.AttributeContext_HttpRequest{
		Headers: map[string]string{"authorization": "Bearer a", "x-one": "1"},
		HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "authorization", RawValue: []byte("Bearer a")}, // the map's value again
			{Key: "X-Mixed", Value: "plain"},
			{Key: "x-mixed", RawValue: []byte("second")},
			{Key: "x-mixed", Value: "plain"}, // a repeat
			{Key: "x-two", RawValue: []byte("2")},
		}},
	}, nil))
	got := map[string][]string{}
	r.Header.Each(func(name, value string) {
		lower := strings.ToLower(name)
		got[lower] = append(got[lower], value)
	})
	for _, name := range []string{"authorization", "x-one", "x-mixed", "x-two"} {
		if want := r.Header.Values(name); !slices.Equal(got[name], want) {
			t.Errorf("%s: Each %q, Values %q", name, got[name], want)
		}
	}
	if len(got) != 4 {
		t.Errorf("Each yielded %v", got)
	}
}

// More header fields than authz.MaxHeaders make the request unreadable:
// refused, not indexed.
func TestTooManyHeaders(t *testing.T) {
	list := make([]*corev3.HeaderValue, authz.MaxHeaders)
	for i := range list {
		list[i] = &corev3.HeaderValue{Key: fmt.Sprintf("x-h%d", i), Value: "v"}
	}
	at := &authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: list}}
	if r := toRequest(checkRequest(at, nil)); r.Unreadable != "" {
		t.Errorf("%d fields: %s", authz.MaxHeaders, r.Unreadable)
	}
	at.Headers = map[string]string{":path": "/"}
	if r := toRequest(checkRequest(at, nil)); !strings.Contains(r.Unreadable, "header fields") {
		t.Errorf("%d fields read: %q", authz.MaxHeaders+1, r.Unreadable)
	}
}

func TestRequestIDFromEitherHeaderForm(t *testing.T) {
	for _, at := range []*authv3.AttributeContext_HttpRequest{
		{Headers: map[string]string{"x-request-id": "r-1"}},
		{HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "x-request-id", RawValue: []byte("r-1")}}}},
	} {
		if got := requestID(toRequest(checkRequest(at, nil)).Header); got != "r-1" {
			t.Errorf("%v: request id %q", at, got)
		}
	}
}

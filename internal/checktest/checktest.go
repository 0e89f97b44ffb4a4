// Package checktest builds Envoy's ext_authz Check requests and reads the
// answers the way Envoy and a client would, for the tests of the gRPC door
// and of the server behind it.
package checktest

import (
	"context"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

// Opt changes a Check request.
type Opt func(*authv3.CheckRequest)

// Policy names the policy, as the route's context extensions do.
func Policy(p string) Opt {
	return func(r *authv3.CheckRequest) { r.Attributes.ContextExtensions = map[string]string{"policy": p} }
}

// Header sets one request header.
func Header(k, v string) Opt {
	return func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Headers[k] = v }
}

// Token sends tok as the bearer token.
func Token(tok string) Opt { return Header("authorization", "Bearer "+tok) }

// HeaderMap sends the headers kv (name, value, ...) in header_map, as
// Envoy does with encode_raw_headers.
func HeaderMap(kv ...string) Opt {
	return func(r *authv3.CheckRequest) {
		hm := &corev3.HeaderMap{}
		for i := 0; i+1 < len(kv); i += 2 {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
		}
		r.Attributes.Request.Http.HeaderMap = hm
	}
}

// Request is a GET of https://shop.example/orders/1, changed by opts.
func Request(opts ...Opt) *authv3.CheckRequest {
	r := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
		Method: "GET", Path: "/orders/1", Host: "shop.example", Scheme: "https",
		Headers: map[string]string{":authority": "shop.example", ":method": "GET", ":path": "/orders/1", "user-agent": "test"},
	}}}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Answer is a decision as Envoy and a client read it: the gRPC code, the
// HTTP status, the outcome header, the headers set (upstream headers on an
// allow, response headers on a denial) and removed, the denial's body.
type Answer struct {
	Code    codes.Code
	Status  int
	Outcome string
	Headers map[string]string
	Removed []string
	Body    string
}

// Read reads resp. It panics on a header that would not overwrite on
// every Envoy: no answer may ever carry one.
func Read(resp *authv3.CheckResponse) Answer {
	a := Answer{Code: codes.Code(resp.GetStatus().GetCode()), Headers: map[string]string{}}
	var hs []*corev3.HeaderValueOption
	if ok := resp.GetOkResponse(); ok != nil {
		a.Status, hs, a.Removed = 200, ok.GetHeaders(), ok.GetHeadersToRemove()
	} else {
		d := resp.GetDeniedResponse()
		a.Status, hs, a.Body = int(d.GetStatus().GetCode()), d.GetHeaders(), d.GetBody()
	}
	for _, h := range hs {
		// Old Envoys read append (unset = overwrite), new ones
		// append_action (zero = append): only this pair overwrites on both.
		//lint:ignore SA1019 the deprecated field must stay unset: old Envoys read it
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD || h.GetAppend() != nil {
			panic("header " + h.GetHeader().GetKey() + " would not overwrite on every Envoy")
		}
		a.Headers[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	a.Outcome = a.Headers["x-authz-outcome"]
	return a
}

// Expect reads resp and fails the test unless it is outcome with status
// and the gRPC code that outcome answers with.
func Expect(t testing.TB, resp *authv3.CheckResponse, outcome string, status int) Answer {
	t.Helper()
	a := Read(resp)
	wantCode := map[string]codes.Code{"allow": codes.OK, "missing": codes.Unauthenticated, "invalid": codes.Unauthenticated, "forbidden": codes.PermissionDenied, "error": codes.Unavailable}[outcome]
	if a.Outcome != outcome || a.Status != status || a.Code != wantCode {
		t.Fatalf("got outcome %q status %d code %v, want %q %d %v (body %s)", a.Outcome, a.Status, a.Code, outcome, status, wantCode, a.Body)
	}
	return a
}

// Check sends the request opts make to client, within 5 s, and fails the
// test if the call itself fails.
func Check(t testing.TB, client authv3.AuthorizationClient, opts ...Opt) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := client.Check(ctx, Request(opts...))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return resp
}

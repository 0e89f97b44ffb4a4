package server

import (
	"context"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/forwardauth"
)

// Envoy applies an answer's header sets, then its removes, comparing names
// lower-cased: a remove naming a header authz sets (in any case) would
// leave the upstream without it. Claim and payload headers written in
// mixed case in the policy, and every case and spelling of them from the
// client, read off the wire at both doors.
func TestHeaderNameCaseOnTheWire(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Policies["default"] = func() (p config.Policy) {
		p = cfg.Policies["default"]
		p.Headers = map[string]string{"sub": "X-User-Id", "scope": "X-Scopes", "email": "X-Email"}
		p.PayloadHeader = ptr("X-Claims-Payload")
		return p
	}()
	h := startWith(t, idp, cfg)
	h.waitServing()
	claims := h.validClaims()
	delete(claims, "email") // X-Email is removed, the others set
	tok := h.mint("rsa-1", claims)
	spellings := []string{"x-user-id", "X-USER-ID", "x_user_id", "X_User-Id", "x-scopes", "X_SCOPES", "x-email", "X-Email", "x_email",
		"x-claims-payload", "X_Claims_Payload"}

	check := func(t *testing.T, sets, removes []string) {
		t.Helper()
		for _, s := range sets {
			for _, r := range removes {
				if strings.EqualFold(s, r) {
					t.Errorf("%q is set and removed (as %q): the upstream would get nothing", s, r)
				}
			}
		}
		for _, want := range []string{"x-user-id", "x-scopes", "x-claims-payload"} {
			if !containsFold(sets, want) {
				t.Errorf("%s not set: sets %q", want, sets)
			}
		}
		for _, want := range []string{"x-email", "x_user_id", "x_scopes", "x_email", "x_claims_payload", "x_user-id"} {
			if !containsFold(removes, want) {
				t.Errorf("%s not removed: removes %q", want, removes)
			}
		}
	}

	t.Run("gRPC door", func(t *testing.T) {
		hdr := map[string]string{"authorization": "Bearer " + tok}
		var list []*corev3.HeaderValue
		for _, s := range spellings {
			hdr[s] = "mallory"
			list = append(list, &corev3.HeaderValue{Key: s, RawValue: []byte("mallory")})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := h.client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Host: "shop.example", Path: "/orders/1", Scheme: "https", Headers: hdr,
				HeaderMap: &corev3.HeaderMap{Headers: list},
			}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		ok := resp.GetOkResponse()
		if ok == nil {
			t.Fatalf("not an allow: %v", resp.GetStatus())
		}
		var sets []string
		for _, hv := range ok.GetHeaders() {
			sets = append(sets, hv.GetHeader().GetKey())
		}
		check(t, sets, ok.GetHeadersToRemove())
	})

	t.Run("HTTP door, Envoy mode", func(t *testing.T) {
		hdr := map[string]string{"Authorization": "Bearer " + tok}
		for _, s := range spellings {
			hdr[s] = "mallory"
		}
		r, err := rawRequest(h.srv.httpLn.Addr().String(), "/check/orders/1", "shop.example", hdr)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		// A removed header is answered empty (for proxies that copy named
		// headers): only a value is a set.
		var sets []string
		for name := range r.header {
			if r.header.Get(name) != "" {
				sets = append(sets, name)
			}
		}
		check(t, sets, strings.Split(r.header.Get(forwardauth.HeadersToRemoveHeader), ","))
	})
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

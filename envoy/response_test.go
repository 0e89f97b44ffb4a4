package envoy

import (
	"encoding/json"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"

	"github.com/authz-dev/authz/authz"
)

func headerMap(t *testing.T, hs []*corev3.HeaderValueOption) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range hs {
		// Old Envoys read `append` (unset = overwrite), new ones
		// append_action (zero = append): only this pair overwrites on both.
		//lint:ignore SA1019 the deprecated field must stay unset: old Envoys read it
		if h.GetAppend() != nil || h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("header %s would not overwrite on every Envoy", h.GetHeader().GetKey())
		}
		out[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return out
}

func TestToResponse(t *testing.T) {
	ans := authz.DefaultAnswers()
	t.Run("allow sets, removes and exports claims", func(t *testing.T) {
		d := authz.Decision{Outcome: authz.Allow,
			Headers:       []authz.HeaderValue{{Name: "x-user-id", Value: "alice"}},
			RemoveHeaders: []string{"x_user_id", "x-email"},
			Claims:        map[string]any{"sub": "alice", "n": 1.5},
			Metadata:      true, Policy: "orders", Route: "orders-admin",
		}
		resp := toResponse(&d, ans)
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			t.Fatalf("status %v", resp.GetStatus())
		}
		ok := resp.GetOkResponse()
		hs := headerMap(t, ok.GetHeaders())
		if hs["x-user-id"] != "alice" || hs["x-authz-outcome"] != "allow" {
			t.Errorf("headers %v", hs)
		}
		if !slices.Equal(ok.GetHeadersToRemove(), []string{"x_user_id", "x-email"}) {
			t.Errorf("headers_to_remove %q", ok.GetHeadersToRemove())
		}
		//lint:ignore SA1019 the deprecated field must stay unset: it would override the CheckResponse's
		if ok.GetDynamicMetadata() != nil {
			t.Error("the deprecated ok_response.dynamic_metadata is set: it would override the CheckResponse's")
		}
		if got := resp.GetDynamicMetadata().GetFields()["sub"].GetStringValue(); got != "alice" {
			t.Errorf("dynamic_metadata sub %q", got)
		}
		dec := resp.GetDynamicMetadata().GetFields()[DecisionKey].GetStructValue().GetFields()
		if dec["route"].GetStringValue() != "orders-admin" || dec["policy"].GetStringValue() != "orders" {
			t.Errorf("authz_decision %v", dec)
		}
	})
	t.Run("metadata only when the policy asks", func(t *testing.T) {
		if md := toResponse(&authz.Decision{Outcome: authz.Allow, Claims: map[string]any{"sub": "a"}}, ans).GetDynamicMetadata(); md != nil {
			t.Errorf("metadata %v", md)
		}
		d := authz.Decision{Outcome: authz.Forbidden, Metadata: true, Policy: "p", Rule: "tenant"}
		dec := toResponse(&d, ans).GetDynamicMetadata().GetFields()[DecisionKey].GetStructValue().GetFields()
		if dec["rule"].GetStringValue() != "tenant" {
			t.Errorf("a denial's metadata %v", dec)
		}
	})
	t.Run("denials keep their class in code, status and header", func(t *testing.T) {
		for _, c := range []struct {
			outcome authz.Outcome
			code    codes.Code
			status  int
			errCode string
		}{
			{authz.Missing, codes.Unauthenticated, 401, "missing_token"},
			{authz.Invalid, codes.Unauthenticated, 401, "invalid_token"},
			{authz.Forbidden, codes.PermissionDenied, 403, "insufficient_scope"},
			{authz.Error, codes.Unavailable, 503, "temporarily_unavailable"},
		} {
			d := authz.Decision{Outcome: c.outcome, Description: "why", RequiredScopes: []string{"orders:write"}}
			resp := toResponse(&d, ans)
			denied := resp.GetDeniedResponse()
			hs := headerMap(t, denied.GetHeaders())
			var body struct{ Error, ErrorDescription string }
			json.Unmarshal([]byte(denied.GetBody()), &body)
			if codes.Code(resp.GetStatus().GetCode()) != c.code || int(denied.GetStatus().GetCode()) != c.status || hs["x-authz-outcome"] != c.outcome.String() || body.Error != c.errCode {
				t.Errorf("%s: code %v status %d headers %v body %s", c.outcome, resp.GetStatus().GetCode(), denied.GetStatus().GetCode(), hs, denied.GetBody())
			}
			if c.outcome == authz.Forbidden && hs["www-authenticate"] != `Bearer realm="authz", error="insufficient_scope", scope="orders:write"` {
				t.Errorf("forbidden challenge %q", hs["www-authenticate"])
			}
			if c.outcome == authz.Error && hs["www-authenticate"] != "" {
				t.Error("an IdP failure must not challenge the client")
			}
		}
	})
}

package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/forwardauth"
	jose "github.com/go-jose/go-jose/v4"
)

// Header ownership is the config's: every header any policy, payload
// header or upstream token writes is set or removed on every allow, at both
// doors, whatever the policy that allowed maps or inherits — so a public
// route beside protected ones never passes a client's own x-user-id.
func TestEveryOwnedHeaderIsSetOrRemovedOnEveryAllow(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := mintingConfig(t, idp, writeSigningKey(t, t.TempDir(), jose.ES256))
	cfg.Policies["public"] = config.Policy{Extends: "none", Token: "none"}
	cfg.Policies["optional"] = config.Policy{Token: "optional"}
	cfg.Policies["payload"] = config.Policy{Extends: "none", PayloadHeader: ptr("x-claims"),
		TokenSources: []config.TokenSource{{Header: "authorization", Scheme: "Bearer"}}}
	h := startWith(t, idp, cfg)
	h.waitServing()
	token := h.mint("rsa-1", h.validClaims())

	// x-identity is orders-write's minted token, x-claims payload's, the
	// rest default's claim headers; x-authz-outcome the doors' own.
	owned := []string{"x-user-id", "x-scopes", "x-roles", "x-email", "x-exp", "x-claims", "x-identity", "x-authz-outcome"}
	policies := []struct {
		name  string
		token bool
	}{{"default", true}, {"orders-write", true}, {"public", false}, {"optional", false}, {"payload", true}}
	httpAddr := "http://" + h.srv.httpLn.Addr().String()

	for _, p := range policies {
		for _, name := range owned {
			under := strings.ReplaceAll(name, "-", "_")
			// The gRPC door: set (overwritten) or in headers_to_remove.
			opts := []checkOpt{withPolicy(p.name), withHeader(name, "mallory"), withHeader(under, "mallory")}
			if p.token {
				opts = append(opts, withToken(token))
			}
			o := h.expect(h.check(opts...), "allow", 200)
			if v, set := o.Headers[name]; (!set || v == "mallory") && !slices.Contains(o.Removed, name) {
				t.Errorf("gRPC door, policy %s: a client's %s passes (set %q, removed %q)", p.name, name, o.Headers[name], o.Removed)
			}
			if !slices.Contains(o.Removed, under) {
				t.Errorf("gRPC door, policy %s: a client's %s passes (removed %q)", p.name, under, o.Removed)
			}

			// The HTTP door (Envoy's http_service): answered, or listed
			// in x-envoy-auth-headers-to-remove.
			req, _ := http.NewRequest("GET", httpAddr+"/check/orders/1", nil)
			req.Host = "shop.example"
			req.Header.Set("X-Authz-Policy", p.name)
			req.Header[name] = []string{"mallory"}
			req.Header[under] = []string{"mallory"}
			if p.token {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("HTTP door, policy %s: %d", p.name, resp.StatusCode)
			}
			removed := strings.Split(resp.Header.Get(forwardauth.HeadersToRemoveHeader), ",")
			if v := resp.Header.Get(name); (v == "" || v == "mallory") && !slices.Contains(removed, name) {
				t.Errorf("HTTP door, policy %s: a client's %s passes (answered %q, removed %q)", p.name, name, v, removed)
			}
			if !slices.Contains(removed, under) {
				t.Errorf("HTTP door, policy %s: a client's %s passes (removed %q)", p.name, under, removed)
			}
		}
	}
}

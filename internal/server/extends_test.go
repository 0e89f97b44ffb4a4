package server

import (
	"testing"

	"github.com/authz-dev/authz/internal/config"
)

// A rule on default reaches every policy that extends it — a public one
// too, where it sees no claims — and extends: none keeps it off.
func TestARuleOnDefaultAndPublicPolicies(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	def := cfg.Policies["default"]
	def.Rules = []config.Rule{{Name: "tenant-present", Expr: `has(claims.tenant)`}}
	cfg.Policies["default"] = def
	cfg.Policies["public"] = config.Policy{Token: "none"}
	cfg.Policies["health"] = config.Policy{Extends: "none", Token: "none"}
	h := startWith(t, idp, cfg)
	h.waitServing()
	h.expect(h.check(withPolicy("health")), "allow", 200)
	h.expect(h.check(withPolicy("public")), "forbidden", 403)
	claims := h.validClaims()
	claims["tenant"] = "t1"
	h.expect(h.check(withToken(h.mint("rsa-1", claims))), "allow", 200)
	h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "forbidden", 403)
	if len(cfg.Warnings) == 0 {
		t.Error("no warning for a public policy that inherits a rule")
	}
}

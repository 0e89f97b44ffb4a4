package server

import (
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
)

// One IdP's many tenants as the config wires them: a templated issuer
// admits the tenants on its list, with one key set, and hands the tenant
// on as a claim; another tenant's token is invalid. (What the template
// matches and refuses is authz/jwt's TestTemplatedIssuer.)
func TestTemplatedIssuerTenants(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers = append(cfg.Issuers, config.Issuer{
		Name: "entra", Issuer: idp.Issuer() + "/{tenant}/v2.0", Tenants: []string{"contoso", "fabrikam"},
		JWKSURL: idp.JWKSURL(), Algorithms: []string{"ES256"}, Leeway: ptr(time.Duration(0)), MinRefreshInterval: 10 * time.Millisecond,
	})
	cfg.Policies["tenants"] = config.Policy{Validators: []string{"entra"}, Headers: map[string]string{"sub": "x-user-id", "iss_tenant": "x-tenant"}}
	h := startWith(t, idp, cfg)
	h.waitServing()
	token := func(tenant string) string {
		c := idp.Claims("alice", time.Hour, "orders:read")
		c["iss"], c["tid"] = idp.Issuer()+"/"+tenant+"/v2.0", tenant
		return h.mint("ec-1", c)
	}
	o := h.expect(h.check(withPolicy("tenants"), withToken(token("fabrikam"))), "allow", 200)
	if o.Headers["x-tenant"] != "fabrikam" || o.Headers["x-user-id"] != "alice" {
		t.Errorf("an admitted tenant: %v", o.Headers)
	}
	h.expect(h.check(withPolicy("tenants"), withToken(token("evil"))), "invalid", 401)
	// The tenant policy accepts only the templated issuer: corp's tokens
	// are forbidden there.
	h.expect(h.check(withPolicy("tenants"), withToken(h.mint("ec-1", h.validClaims()))), "forbidden", 403)

}

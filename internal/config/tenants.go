package config

import (
	"slices"
	"strings"

	"github.com/authz-dev/authz/authz/jwt"
)

// validateTenants checks a templated issuer (issuer naming {tenant}): the
// template itself (the jwt package's rules), a tenant list, and keys from
// a URL or a file — discovery needs one concrete issuer.
func validateTenants(is Issuer, path string, p *problems) {
	templated := strings.Contains(is.Issuer, jwt.TenantPlaceholder)
	switch {
	case !templated && len(is.Tenants) > 0:
		p.add(path+".tenants", "the issuer names no %s: tenants are for a templated issuer (https://login.example.com/%s/v2.0)", jwt.TenantPlaceholder, jwt.TenantPlaceholder)
		return
	case !templated:
		return
	}
	if _, err := jwt.NewIssuer(jwt.IssuerOptions{Name: is.Name, Issuer: is.Issuer, Tenants: is.Tenants, Keys: &jwt.Keys{}}); err != nil {
		p.add(path+".issuer", "%v", err)
	}
	if is.Discovery {
		p.add(path+".discovery", "a templated issuer has no one discovery document: name its keys with jwks_url or jwks_file")
	}
	if slices.Contains(is.Tenants, jwt.AnyTenant) {
		p.warn(path+".tenants", "%q admits every tenant of the IdP: judge claims.%s (or tid) in a rule of each policy that accepts this issuer", jwt.AnyTenant, jwt.TenantClaim)
	}
}

package jwt

import (
	"fmt"
	"strings"
)

// TenantPlaceholder marks the tenant in a templated issuer: one IdP, many
// tenants, one "iss" each (https://login.microsoftonline.com/{tenant}/v2.0).
const TenantPlaceholder = "{tenant}"

// TenantClaim is the claim a templated issuer's tokens gain: the tenant
// their iss names, for rules and headers.
const TenantClaim = "iss_tenant"

// AnyTenant in Tenants admits every tenant (a rule should then judge
// claims.iss_tenant or claims.tid).
const AnyTenant = "*"

// template is a templated issuer's iss split at the placeholder, which
// fills one whole path segment.
type template struct {
	prefix, suffix string
	tenants        map[string]bool // nil: any
}

// parseTemplate splits an iss with one {tenant} path segment, or reports
// why it is not one.
func parseTemplate(iss string, tenants []string) (*template, error) {
	if strings.Count(iss, TenantPlaceholder) != 1 {
		return nil, fmt.Errorf("issuer %q: a template names %s once", iss, TenantPlaceholder)
	}
	prefix, suffix, _ := strings.Cut(iss, TenantPlaceholder)
	if !strings.HasSuffix(prefix, "/") || suffix != "" && suffix[0] != '/' || !strings.Contains(prefix, "://") || strings.Count(prefix, "/") < 3 {
		return nil, fmt.Errorf("issuer %q: %s must be a whole path segment (https://host/%s/…)", iss, TenantPlaceholder, TenantPlaceholder)
	}
	if len(tenants) == 0 {
		return nil, fmt.Errorf("issuer %q: list its tenants (or %q for any, with a rule over the tenant)", iss, AnyTenant)
	}
	t := &template{prefix: prefix, suffix: suffix, tenants: map[string]bool{}}
	for _, tn := range tenants {
		if tn == AnyTenant {
			t.tenants = nil
			break
		}
		if !validTenant(tn) {
			return nil, fmt.Errorf("issuer %q: tenant %q is not a path segment", iss, tn)
		}
		t.tenants[tn] = true
	}
	return t, nil
}

// validTenant: a tenant fills one path segment of unreserved characters.
func validTenant(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// routeTemplate finds the templated issuer whose iss this is, and the
// tenant: each path segment of iss in turn is taken for the tenant, and
// the rest looked up in the index — as many look-ups as iss has segments,
// whatever the number of issuers and tenants.
func (s *Set) routeTemplate(iss string) (*Issuer, string, bool) {
	if len(s.byTemplate) == 0 {
		return nil, "", false
	}
	scheme, rest, ok := strings.Cut(iss, "://")
	if !ok {
		return nil, "", false
	}
	// Past the host: segments start after each "/".
	start := strings.IndexByte(rest, '/')
	for start >= 0 {
		end := strings.IndexByte(rest[start+1:], '/')
		seg := rest[start+1:]
		if end >= 0 {
			seg = rest[start+1 : start+1+end]
		}
		if validTenant(seg) {
			key := scheme + "://" + rest[:start+1] + TenantPlaceholder + rest[start+1+len(seg):]
			if is, ok := s.byTemplate[key]; ok && (is.tmpl.tenants == nil || is.tmpl.tenants[seg]) {
				return is, seg, true
			}
		}
		if end < 0 {
			break
		}
		start += 1 + end
	}
	return nil, "", false
}

package config

import (
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authz-dev/authz/authz"
)

// Resource is the protected resource a policy guards (RFC 9728): an MCP
// server, say. Its tokens must name it in their audience (RFC 8707), its
// challenges point at its metadata, and authz serves that metadata at the
// well-known URI the identifier derives.
type Resource struct {
	// ID is the resource identifier: the https URL clients name the
	// resource by (an MCP server's canonical URI). http is accepted for
	// loopback hosts only, for local development.
	ID string `yaml:"id"`
	// AuthorizationServers are the issuers clients get tokens from
	// (their own metadata is at RFC 8414's well-known URIs).
	AuthorizationServers []string `yaml:"authorization_servers"`
	// ScopesSupported (default: the policy's require_scopes).
	ScopesSupported []string `yaml:"scopes_supported"`
	// BearerMethodsSupported (default [header]): authz reads tokens from
	// headers and cookies only, so header is the one method to offer.
	BearerMethodsSupported []string `yaml:"bearer_methods_supported"`
	Name                   string   `yaml:"name"`
	Documentation          string   `yaml:"documentation"`
	// MaxAge is how long clients and caches may keep the metadata
	// (Cache-Control max-age; default 1h).
	MaxAge time.Duration `yaml:"max_age"`
	// SignedMetadata adds signed_metadata (RFC 9728 §2.2): the metadata
	// as a JWT signed with authz's upstream_tokens key, issued by its
	// upstream_tokens.issuer.
	SignedMetadata bool `yaml:"signed_metadata"`
}

// MetadataURL is where the resource's metadata is (RFC 9728 §3.1): the
// well-known path inserted between the identifier's host and its path.
func (r *Resource) MetadataURL() string {
	u, err := url.Parse(r.ID)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + r.MetadataPath()
}

// MetadataPath is the path of MetadataURL.
func (r *Resource) MetadataPath() string {
	u, err := url.Parse(r.ID)
	if err != nil {
		return ""
	}
	return WellKnownResourcePath + strings.TrimSuffix(u.EscapedPath(), "/")
}

// WellKnownResourcePath is RFC 9728's well-known URI suffix.
const WellKnownResourcePath = "/.well-known/oauth-protected-resource"

// completeResources gives each resource its defaults, one copy per
// identifier shared by every policy that guards it (declared or through
// extends): scopes_supported, unless written, is every scope those
// policies require, so a client learns the step-up scopes too.
func (c *Config) completeResources() {
	scopes := map[string][]string{} // by id
	for _, name := range c.policyNames() {
		if r := c.Policies[name].Resource; r != nil {
			scopes[r.ID] = append(scopes[r.ID], c.Policies[name].RequireScopes...)
		}
	}
	done := map[string]*Resource{}
	for _, name := range c.policyNames() {
		p := c.Policies[name]
		if p.Resource == nil {
			continue
		}
		r, ok := done[p.Resource.ID]
		if !ok {
			copied := *p.Resource
			r = &copied
			if r.ScopesSupported == nil {
				all := slices.Clone(scopes[r.ID])
				slices.Sort(all)
				r.ScopesSupported = slices.Compact(all)
			}
			r.setDefaults()
			done[r.ID] = r
		}
		p.Resource = r
		c.Policies[name] = p
	}
}

func (r *Resource) setDefaults() {
	if r.BearerMethodsSupported == nil {
		r.BearerMethodsSupported = []string{"header"}
	}
	if r.MaxAge == 0 {
		r.MaxAge = time.Hour
	}
}

func (r *Resource) validate(path string, p *problems) {
	if r.ID == "" {
		p.add(path+".id", "the resource identifier is required (an https URL, such as https://mcp.example.com/mcp)")
	} else if _, err := authz.CanonicalResource(r.ID); err != nil {
		p.add(path+".id", "%q: %v", r.ID, err)
	} else if msg := httpsOrLoopback(r.ID); msg != "" {
		p.add(path+".id", "%q: %s", r.ID, msg)
	} else if u, _ := url.Parse(r.ID); u.RawQuery != "" {
		p.add(path+".id", "%q: a query in the identifier has no place in the metadata's well-known URI (RFC 9728 §3.1); drop it", r.ID)
	}
	if len(r.AuthorizationServers) == 0 {
		p.add(path+".authorization_servers", "name at least one: clients find where to get a token here")
	}
	for i, as := range r.AuthorizationServers {
		if msg := httpsOrLoopback(as); msg != "" {
			p.add(pathOf(path, "authorization_servers", i), "%q: %s", as, msg)
		}
	}
	for i, m := range r.BearerMethodsSupported {
		if m != "header" {
			p.add(pathOf(path, "bearer_methods_supported", i), "%q: authz reads tokens from headers only; use header", m)
		}
	}
	if r.Documentation != "" {
		if msg := httpsOrLoopback(r.Documentation); msg != "" {
			p.add(path+".documentation", "%q: %s", r.Documentation, msg)
		}
	}
	if r.MaxAge < 0 {
		p.add(path+".max_age", "must not be negative")
	}
}

// httpsOrLoopback says what is wrong with a URL a client will follow, or
// "": https, or http to a loopback host.
func httpsOrLoopback(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "not an absolute URL"
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return ""
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return ""
		}
		return "use https (http only for a loopback host)"
	}
	return "use https"
}

// validateSignedMetadata: signed metadata needs authz's signing key.
func validateSignedMetadata(c *Config, p *problems) {
	for _, name := range c.policyNames() {
		if r := c.Policies[name].Resource; r != nil && r.SignedMetadata && !c.UpstreamTokens.Enabled() {
			p.add("policies."+name+".resource.signed_metadata", "signs with authz's key: configure upstream_tokens.key_files and issuer")
		}
	}
}

// validateResources holds every policy's resource to its own rules, and
// the resources as written to one another: one metadata path is one
// document, so two resources there must be the same resource, written
// alike.
func validateResources(policies, declared map[string]Policy, p *problems) {
	for _, name := range slices.Sorted(maps.Keys(policies)) {
		if r := policies[name].Resource; r != nil {
			r.validate("policies."+name+".resource", p)
		}
	}
	byPath := map[string]string{} // metadata path → the policy that wrote it
	for _, name := range slices.Sorted(maps.Keys(declared)) {
		r := declared[name].Resource
		if r == nil {
			continue
		}
		path := r.MetadataPath()
		if other, ok := byPath[path]; ok && !sameResource(declared[other].Resource, r) {
			p.add("policies."+name+".resource", "its metadata would be served at %s, as policy %s's different resource is: write the resource once (policies that extend %s share it), or give each its own identifier's path", path, other, other)
			continue
		}
		byPath[path] = name
	}
}

func sameResource(a, b *Resource) bool {
	return a.ID == b.ID && slices.Equal(a.AuthorizationServers, b.AuthorizationServers) &&
		slices.Equal(a.ScopesSupported, b.ScopesSupported) && slices.Equal(a.BearerMethodsSupported, b.BearerMethodsSupported) &&
		a.Name == b.Name && a.Documentation == b.Documentation && a.MaxAge == b.MaxAge && a.SignedMetadata == b.SignedMetadata
}

// Package config holds authz's configuration file: its shape, strict
// decoding with line numbers, and validation. Each section's file holds its
// struct, the defaults only the file knows, and its checks; defaults that a
// package's constructor owns (introspection, Redis, the forward-auth door,
// the outcome answers, JWT algorithms) are left to it.
package config

import (
	"os"
	"time"

	"github.com/authz-dev/authz/authz"
)

// Config is the whole configuration file.
type Config struct {
	GRPC    GRPC     `yaml:"grpc"`
	HTTP    HTTP     `yaml:"http"`
	Admin   Admin    `yaml:"admin"`
	Cache   Cache    `yaml:"cache"`
	Issuers []Issuer `yaml:"issuers"`
	// Introspection lists RFC 7662 endpoints for opaque (and revocable) tokens.
	Introspection []Introspection `yaml:"introspection"`
	// APIKeys are validators of API keys (apikeys.go).
	APIKeys  []APIKeys         `yaml:"api_keys"`
	Policies map[string]Policy `yaml:"policies"`
	// Routes pick a policy from the request when the proxy names none.
	Routes  []Route `yaml:"routes"`
	Routing `yaml:",inline"`
	// ProxyTimeout is the proxy's own timeout for the auth call (Envoy's
	// ext_authz timeout, nginx's proxy_read_timeout): validate warns when
	// a Check may wait longer (default 3s, the shipped recipes').
	ProxyTimeout time.Duration `yaml:"proxy_timeout"`
	Outcomes     Outcomes      `yaml:"outcomes"`
	Log          Log           `yaml:"log"`
	// DPoP says how DPoP proofs are checked (RFC 9449).
	DPoP DPoP `yaml:"dpop"`
	// Tracing exports OpenTelemetry spans of every Check.
	Tracing Tracing `yaml:"tracing"`
	// UpstreamTokens are authz's signing keys for the tokens policies mint
	// for their upstreams (upstream.go).
	UpstreamTokens UpstreamTokens `yaml:"upstream_tokens"`
	// Include names files of policies and routes (globs, relative to this
	// file) merged after this file's own, each with the scope its routes
	// may claim (include.go).
	Include []IncludeEntry `yaml:"include"`

	// IncludeGlobs are Include made absolute, and Fragments the files they
	// named at load, in merge order: a reload or -watch reads them again.
	IncludeGlobs []string `yaml:"-"`
	Fragments    []string `yaml:"-"`
	// Where each route and policy was written, when there are fragments.
	routeOrigins  []string          `yaml:"-"`
	policyOrigins map[string]string `yaml:"-"`
	// declared are the policies as written, before extends filled them.
	declared map[string]Policy `yaml:"-"`

	// Warnings are settings that are valid but risky, each with its line;
	// `authz validate` prints them and serve logs them.
	Warnings []string `yaml:"-"`
	// Hash is the first 12 hex digits of the SHA-256 of the file's text
	// (Load and Parse set it): which config serves, in authz_config_info.
	Hash string `yaml:"-"`
}

// DefaultPolicy is the policy used when a request names none.
const DefaultPolicy = authz.DefaultPolicy

// problems collects validation errors and warnings by key path.
type problems struct {
	errs, warnings []fieldError
	// offline: secrets are not read (CI checks a config without them).
	offline bool
}

// file checks that a file serve will read exists (not when offline: CI
// checks configs without the files they name mounted).
func (p *problems) file(path, key string) {
	if p.offline || path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		p.add(key, "%v", err)
	}
}

// secret resolves a secret, or stands one in when offline.
func (p *problems) secret(value, file string) (string, error) {
	if p.offline {
		if value == "" && file == "" {
			return "", nil
		}
		return "offline-stand-in-for-a-secret", nil
	}
	return resolveSecret(value, file)
}

func (p *problems) add(path, format string, args ...any) {
	p.errs = append(p.errs, newFieldError(path, format, args...))
}

func (p *problems) warn(path, format string, args ...any) {
	p.warnings = append(p.warnings, newFieldError(path, format, args...))
}

func (c *Config) setDefaults() {
	c.GRPC.setDefaults()
	c.HTTP.setDefaults()
	c.Cache.setDefaults()
	for i := range c.Issuers {
		c.Issuers[i].setDefaults()
	}
	c.setPolicyDefaults()
	c.Log.setDefaults()
	c.DPoP.Defaults()
	c.Tracing.Defaults()
	c.UpstreamTokens.Defaults()
}

func (c *Config) validate(offline bool) problems {
	p := problems{offline: offline}
	c.GRPC.validate(&p)
	c.HTTP.validate(&p)
	c.Admin.validate(&p)
	c.Cache.validate(&p)
	issuers := validateIssuers(c.Issuers, &p)
	endpoints := validateIntrospection(c.Introspection, issuers, &p)
	for i, is := range c.Issuers {
		if is.Introspect != "" && !endpoints[is.Introspect] {
			p.add(pathOf("issuers", i, "introspect"), "unknown introspection endpoint %q", is.Introspect)
		}
	}
	keys := validateAPIKeys(c, unionOf(issuers, endpoints), &p)
	validatePolicies(c.Policies, unionOf(issuers, keys), endpoints, &p)
	validateResources(c.Policies, c.declared, &p)
	validateSignedMetadata(c, &p)
	c.warnNginxHeaders(&p)
	validateNoTokenPolicies(c.Policies, c.declared, &p)
	validateRoutes(c.Routes, c.Routing, c.Policies, c.RouteOrigin, &p)
	c.Outcomes.validate(&p)
	c.Log.validate(&p)
	validateDPoP(&c.DPoP, &p)
	validateTracing(&c.Tracing, &p)
	validateUpstreamTokens(c.UpstreamTokens, &p)
	c.validateListeners(&p)
	c.validateWaits(&p)
	for _, name := range c.policyNames() {
		validateUpstreamToken(name, c.Policies[name], c, &p)
	}
	for i, r := range c.Routes {
		if why := upstreamAudienceProblem(r, c.Policies); why != "" {
			p.add(pathOf("routes", i, "upstream_audience"), "%s", why)
		}
	}
	return p
}

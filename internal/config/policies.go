package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/authz-dev/authz/internal/rules"

	"github.com/authz-dev/authz/authz"
)

// Policy is what a route demands and forwards. Fields left out are taken
// from the policy it extends: "default" unless Extends names another, or
// "none" (built-in defaults only). Rules included: a rule on default holds
// on every policy that extends it, which validate -explain shows.
type Policy struct {
	// Extends names the policy whose settings fill this one's unset
	// fields: "default" (the default for every other policy), another
	// policy, or "none". The default policy extends nothing.
	Extends          string            `yaml:"extends"`
	TokenSources     []TokenSource     `yaml:"token_sources"`
	Validators       []string          `yaml:"validators"`
	RequireScopes    []string          `yaml:"require_scopes"`
	RequireAudiences []string          `yaml:"require_audiences"`
	Headers          map[string]string `yaml:"headers"` // claim path → header
	HeaderSeparator  *string           `yaml:"header_separator"`
	MaxHeaderBytes   int               `yaml:"max_header_bytes"`
	PayloadHeader    *string           `yaml:"payload_header"`
	DynamicMetadata  *bool             `yaml:"dynamic_metadata"`
	// Token: required (default), optional (no token passes, without
	// claims; a token present must be valid) or none (tokens are not
	// looked at: public routes).
	Token string `yaml:"token"`
	// Rules are CEL conditions over request, source, destination, claims
	// and token; all must hold (see package rules).
	Rules []Rule `yaml:"rules"`
	// ErrorMode: respond (the error outcome is a CheckResponse with its
	// status), rpc_error (the Check RPC fails UNAVAILABLE, so Envoy's
	// failure_mode_allow / status_on_error decide) or error_response
	// (CheckResponse.error_response: Envoy's failure policy decides, and a
	// denial carries authz's status, headers and body).
	ErrorMode string `yaml:"error_mode"`
	// SenderConstraint: off (default), dpop, mtls or any — the token must
	// be bound (cnf) in that way. A bound token is held to its binding
	// whatever this says.
	SenderConstraint string `yaml:"sender_constraint"`
	// UpstreamToken hands the upstream a token it can verify: one authz
	// mints, or the IdP's signed introspection answer (upstream.go).
	UpstreamToken *UpstreamToken `yaml:"upstream_token"`
	// Resource names the protected resource the policy guards (RFC 9728,
	// resource.go): tokens must be for it, challenges point at its
	// metadata, which authz serves.
	Resource *Resource `yaml:"resource"`
}

// Rule is one named CEL condition.
type Rule struct {
	Name string `yaml:"name"`
	Expr string `yaml:"expr"`
	// From names the policy the rule was written on, when it came to this
	// one through extends ("" for its own).
	From string `yaml:"-"`
}

// TokenSource is one place to look for the token: a header (with an
// optional scheme such as Bearer) or a cookie.
type TokenSource struct {
	Header string `yaml:"header"`
	Scheme string `yaml:"scheme"`
	Cookie string `yaml:"cookie"`
	// APIKeys names the api_keys validator when the source carries API
	// keys rather than tokens.
	APIKeys string `yaml:"api_keys"`
}

// setPolicyDefaults completes every policy: the default policy from the
// built-in defaults, every other one from the policy it extends (default,
// unless Extends says otherwise), resolved first. A cycle or an unknown
// name is left for validation to report.
func (c *Config) setPolicyDefaults() {
	if c.Policies == nil {
		c.Policies = map[string]Policy{}
	}
	if _, ok := c.Policies[DefaultPolicy]; !ok {
		c.Policies[DefaultPolicy] = Policy{}
	}
	if c.declared == nil {
		c.declared = maps.Clone(c.Policies)
	}
	builtin := c.builtinPolicy()
	done, visiting := map[string]bool{}, map[string]bool{}
	var resolve func(name string)
	resolve = func(name string) {
		if done[name] || visiting[name] {
			return
		}
		visiting[name] = true
		p := c.Policies[name]
		from, fromName := builtin, ""
		if base := p.base(name); base != ExtendsNone {
			if _, ok := c.Policies[base]; ok {
				resolve(base)
				if done[base] {
					from, fromName = c.Policies[base], base
				}
			}
		}
		p.fillFrom(from, fromName)
		c.Policies[name] = p
		done[name] = true
	}
	for _, name := range c.policyNames() {
		resolve(name)
	}
	c.completeResources()
	c.acceptAPIKeys()
}

// ExtendsNone, as a policy's extends, takes nothing from another policy.
const ExtendsNone = "none"

// base is the policy p (named name) takes its unset fields from.
func (p Policy) base(name string) string {
	switch {
	case name == DefaultPolicy:
		return ExtendsNone
	case p.Extends == "":
		return DefaultPolicy
	}
	return p.Extends
}

// builtinPolicy is a policy of the built-in defaults: what the default
// policy starts from, and a policy that extends none.
func (c *Config) builtinPolicy() Policy {
	def := Policy{TokenSources: []TokenSource{{Header: "authorization", Scheme: "Bearer"}}}
	for _, is := range c.Issuers {
		def.Validators = append(def.Validators, is.Name)
	}
	// Opaque tokens carry no issuer, so a policy can ask only one
	// endpoint: the default takes the only one there is.
	if len(c.Introspection) == 1 {
		def.Validators = append(def.Validators, c.Introspection[0].Name)
	}
	sep, none, f := ",", "", false
	def.HeaderSeparator, def.PayloadHeader, def.DynamicMetadata = &sep, &none, &f
	def.MaxHeaderBytes = 4096
	def.ErrorMode, def.Token, def.SenderConstraint = authz.ErrorRespond.String(), authz.TokenRequired.String(), authz.SenderOff.String()
	return def
}

// fillFrom sets p's unset fields from from (named fromName; "" for the
// built-in defaults). Rules taken remember where they were written.
func (p *Policy) fillFrom(from Policy, fromName string) {
	inherit(&p.TokenSources, from.TokenSources)
	inherit(&p.Validators, from.Validators)
	inherit(&p.RequireScopes, from.RequireScopes)
	inherit(&p.RequireAudiences, from.RequireAudiences)
	if p.Headers == nil {
		p.Headers = from.Headers
	}
	if p.HeaderSeparator == nil {
		p.HeaderSeparator = from.HeaderSeparator
	}
	if p.MaxHeaderBytes == 0 {
		p.MaxHeaderBytes = from.MaxHeaderBytes
	}
	if p.PayloadHeader == nil {
		p.PayloadHeader = from.PayloadHeader
	}
	if p.DynamicMetadata == nil {
		p.DynamicMetadata = from.DynamicMetadata
	}
	if p.ErrorMode == "" {
		p.ErrorMode = from.ErrorMode
	}
	if p.Token == "" {
		p.Token = from.Token
	}
	if p.SenderConstraint == "" {
		p.SenderConstraint = from.SenderConstraint
	}
	if p.UpstreamToken == nil && from.UpstreamToken != nil {
		t := *from.UpstreamToken
		p.UpstreamToken = &t
	}
	if p.UpstreamToken != nil {
		p.UpstreamToken.setDefaults()
	}
	if p.Resource == nil {
		p.Resource = from.Resource // completed with the rest (completeResources)
	}
	if p.Rules == nil && from.Rules != nil {
		p.Rules = make([]Rule, len(from.Rules))
		for i, r := range from.Rules {
			if r.From == "" {
				r.From = fromName
			}
			p.Rules[i] = r
		}
	}
}

func inherit[T any](dst *[]T, from []T) {
	if *dst == nil {
		*dst = from
	}
}

// validateExtends reports a default policy that extends another, an
// unknown policy to extend, and a cycle.
func validateExtends(policies map[string]Policy, name string, p *problems) {
	pol := policies[name]
	switch {
	case pol.Extends == "" || pol.Extends == ExtendsNone:
		return
	case name == DefaultPolicy:
		p.add("policies.default.extends", "the default policy extends nothing: it is what the others extend")
		return
	}
	seen := map[string]bool{name: true}
	for at := pol.Extends; at != ExtendsNone; at = policies[at].base(at) {
		if _, ok := policies[at]; !ok {
			p.add("policies."+name+".extends", "unknown policy %q", at)
			return
		}
		if seen[at] {
			p.add("policies."+name+".extends", "%q leads back to %q: a cycle", pol.Extends, at)
			return
		}
		seen[at] = true
	}
}

// inheritedRules names the rules a policy holds through extends, with
// where they were written.
func inheritedRules(rs []Rule) []string {
	var out []string
	for _, r := range rs {
		if r.From != "" {
			out = append(out, r.Name+" (from "+r.From+")")
		}
	}
	return out
}

// validatePolicies checks every policy against the validators there are.
func validatePolicies(policies map[string]Policy, issuers, endpoints map[string]bool, p *problems) {
	policyNames := slices.Sorted(maps.Keys(policies))
	for _, name := range policyNames {
		pol := policies[name]
		pp := "policies." + name
		validateExtends(policies, name, p)
		if inherited := inheritedRules(pol.Rules); pol.Token == authz.TokenNone.String() && len(inherited) > 0 {
			p.warn(pp+".token", "a token: none policy holds rules %s through extends, which see no claims and may refuse every request; "+
				"give it rules: [] or extends: none if they are not meant for it", strings.Join(inherited, ", "))
		}
		if len(pol.TokenSources) == 0 {
			p.add(pp+".token_sources", "needs at least one source")
		}
		for i, ts := range pol.TokenSources {
			sp := fmt.Sprintf("%s.token_sources.%d", pp, i)
			switch {
			case (ts.Header == "") == (ts.Cookie == ""):
				p.add(sp, "set exactly one of header or cookie")
			case ts.Cookie != "" && ts.Scheme != "":
				p.add(sp+".scheme", "only applies to a header")
			case ts.Header != "" && !validHeaderName(ts.Header):
				p.add(sp+".header", "%q is not a valid header name", ts.Header)
			}
		}
		if len(pol.Validators) == 0 && pol.Token != authz.TokenNone.String() {
			switch {
			case len(issuers) == 0 && len(endpoints) > 1:
				p.add(pp+".validators", "no validators: with %d introspection endpoints and no issuer, name the one this policy asks (an opaque token carries no issuer to choose by)", len(endpoints))
			case len(issuers) == 0 && len(endpoints) == 0:
				p.add(pp+".validators", "no validators: configure an issuer (JWTs) or an introspection endpoint (opaque tokens)")
			default:
				p.add(pp+".validators", "no validators: list the issuers and introspection endpoint this policy accepts")
			}
		}
		opaque := 0
		for i, v := range pol.Validators {
			if endpoints[v] {
				if opaque++; opaque == 2 {
					p.add(fmt.Sprintf("%s.validators.%d", pp, i), "a policy can name one introspection endpoint: opaque tokens carry no issuer to choose by")
				}
				continue
			}
			if !issuers[v] {
				p.add(fmt.Sprintf("%s.validators.%d", pp, i), "unknown validator %q", v)
			}
		}
		seen := map[string]string{}
		for claim, header := range pol.Headers {
			h := strings.ToLower(header)
			if why := claimHeaderProblem(h); why != "" {
				p.add(pp+".headers."+claim, "%q cannot carry a claim: %s", header, why)
			}
			if other, dup := seen[h]; dup {
				p.add(pp+".headers."+claim, "header %q also carries claim %q", header, other)
			}
			seen[h] = claim
		}
		if _, err := authz.ParseErrorMode(pol.ErrorMode); err != nil {
			p.add(pp+".error_mode", "%v", err)
		}
		if _, err := authz.ParseTokenMode(pol.Token); err != nil {
			p.add(pp+".token", "%v", err)
		}
		if _, err := authz.ParseSenderConstraint(pol.SenderConstraint); err != nil {
			p.add(pp+".sender_constraint", "%v", err)
		}
		ruleNames := map[string]bool{}
		for i, r := range pol.Rules {
			rp := pathOf(pp, "rules", i)
			switch {
			case r.Name == "":
				p.add(rp+".name", "is required: a refused request names its rule")
			case ruleNames[r.Name]:
				p.add(rp+".name", "%q is used twice", r.Name)
			}
			ruleNames[r.Name] = true
			if _, err := rules.Compile([]rules.Rule{{Name: r.Name, Expr: r.Expr}}); err != nil {
				p.add(rp+".expr", "%v", err)
			}
		}
		if pol.MaxHeaderBytes < 0 {
			p.add(pp+".max_header_bytes", "must not be negative")
		}
		if ph := *pol.PayloadHeader; ph != "" {
			if why := claimHeaderProblem(strings.ToLower(ph)); why != "" {
				p.add(pp+".payload_header", "%q cannot carry the claims: %s", ph, why)
			}
		}
	}
	for _, name := range policyNames {
		if m := policies[name].ErrorMode; m != authz.ErrorRespond.String() {
			p.warn("policies."+name+".error_mode", "%s hands the error outcome to Envoy: "+
				"with failure_mode_allow: true a client can force fail-open (junk opaque tokens that saturate max_in_flight, "+
				"unknown kids while the JWKS is unreachable); keep failure_mode_allow false or use respond", m)
		}
	}
}

// claimHeaderProblem says why the lower-case header h cannot carry claims
// upstream, or "": it must be a header name, and not one the proxy or the
// connection owns — overwriting or removing it would change how the
// request is framed, routed or authenticated rather than what it says.
func claimHeaderProblem(h string) string {
	switch {
	case !validHeaderName(h):
		return "not a header name (pseudo-headers such as :path included)"
	case h == "host":
		return "the request's authority; it picks the upstream virtual host"
	case h == "authorization" || strings.HasPrefix(h, "proxy-"):
		return "carries credentials (the client's token)"
	case h == "content-length" || h == "transfer-encoding" || h == "trailer":
		return "frames the request body; a second value smuggles requests"
	case h == "connection" || h == "te" || h == "upgrade" || h == "keep-alive":
		return "a hop-by-hop header of the connection, not the request"
	case strings.HasPrefix(h, "x-envoy-"):
		return "Envoy's own control headers (retries, timeouts, routing)"
	}
	return ""
}

// validHeaderName reports whether h is an RFC 9110 token that Envoy would
// let us set (no pseudo-headers).
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validateNoTokenPolicies makes a policy that takes no token an error when
// it demands what only a token has — scopes, audiences, validators, rules
// reading claims or token — in its own fields: what it inherits it cannot
// use and is set aside, but what it says itself the operator meant, and a
// public route that seems to require orders:write is a hole in waiting.
func validateNoTokenPolicies(policies, declared map[string]Policy, p *problems) {
	for _, name := range slices.Sorted(maps.Keys(policies)) {
		if policies[name].Token != authz.TokenNone.String() {
			continue
		}
		own, pp := declared[name], "policies."+name
		for _, f := range []struct {
			key string
			set bool
		}{{"require_scopes", len(own.RequireScopes) > 0}, {"require_audiences", len(own.RequireAudiences) > 0}, {"validators", len(own.Validators) > 0}} {
			if f.set {
				p.add(pp+"."+f.key, "a token: none policy takes no token, so it cannot demand one; drop %s, or make the token required", f.key)
			}
		}
		for i, r := range own.Rules {
			if rules.ReadsToken(r.Expr) {
				p.add(pathOf(pp, "rules", i, "expr"), "rule %q reads the token, which a token: none policy never has", r.Name)
			}
		}
	}
}

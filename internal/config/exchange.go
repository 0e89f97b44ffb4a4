package config

import (
	"strings"
	"time"
)

// SourceExchange is upstream_token.source exchange: the client's token
// traded at the authorization server for one for the upstream (RFC 8693).
const SourceExchange = "exchange"

// Exchange is where and how a policy's upstream_token is exchanged.
type Exchange struct {
	// TokenEndpoint is the authorization server's token endpoint.
	TokenEndpoint string `yaml:"token_endpoint"`
	// ClientID and the secret (client_secret, "${ENV_VAR}" or
	// client_secret_file) authenticate authz, by AuthMethod:
	// client_secret_basic (default) or client_secret_post.
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	AuthMethod       string `yaml:"auth_method"`
	// Resources and Audiences name the upstream (RFC 8693 §2.1, RFC
	// 8707); at least one of them.
	Resources []string `yaml:"resources"`
	Audiences []string `yaml:"audiences"`
	// Scope asked for ("" leaves it to the server).
	Scope string `yaml:"scope"`
	// RequestedTokenType (default urn:ietf:params:oauth:token-type:access_token).
	RequestedTokenType string `yaml:"requested_token_type"`
	// Timeout bounds one exchange (default 2s).
	Timeout time.Duration `yaml:"timeout"`
	// Secret is the resolved client secret; never printed.
	Secret string `yaml:"-"`
}

func (e *Exchange) validate(pp string, p *problems) {
	if !isHTTPURL(e.TokenEndpoint) {
		p.add(pp+".token_endpoint", "must be an http(s) URL: the authorization server's token endpoint")
	}
	warnPlainHTTP(p, pp+".token_endpoint", e.TokenEndpoint, "client tokens and the client secret")
	if e.ClientID == "" {
		p.add(pp+".client_id", "is required: authz authenticates to the token endpoint")
	}
	if e.ClientSecret != "" && !strings.HasPrefix(e.ClientSecret, "${") {
		p.warn(pp+".client_secret", "a literal secret in the config file: anyone who can read the file (a ConfigMap, a repository) has it; "+
			"use client_secret_file or \"${ENV_VAR}\"")
	}
	secret, err := p.secret(e.ClientSecret, e.ClientSecretFile)
	switch {
	case err != nil:
		p.add(pp+".client_secret", "%v", err)
	case secret == "":
		p.add(pp+".client_secret", "is required (client_secret or client_secret_file)")
	}
	e.Secret = secret
	if e.AuthMethod != "" && e.AuthMethod != "client_secret_basic" && e.AuthMethod != "client_secret_post" {
		p.add(pp+".auth_method", "%q: use client_secret_basic or client_secret_post", e.AuthMethod)
	}
	if len(e.Resources) == 0 && len(e.Audiences) == 0 {
		p.add(pp, "name the upstream: resources (its URI, RFC 8707) or audiences")
	}
	for i, r := range e.Resources {
		if !isHTTPURL(r) || strings.Contains(r, "#") {
			p.add(pathOf(pp, "resources", i), "%q: an absolute http(s) URI without a fragment (RFC 8707 §2)", r)
		}
	}
	if e.Timeout < 0 {
		p.add(pp+".timeout", "must not be negative")
	}
}

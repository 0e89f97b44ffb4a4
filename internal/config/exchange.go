package config

import (
	"strings"

	"github.com/authz-dev/authz/internal/rfc3986"
	"github.com/authz-dev/authz/internal/tokenexchange"
)

// SourceExchange is upstream_token.source exchange: the client's token
// traded at the authorization server for one for the upstream (RFC 8693).
const SourceExchange = "exchange"

// Exchange is where and how a policy's upstream_token is exchanged: the
// step's own settings (tokenexchange.Settings), which this file checks.
type Exchange = tokenexchange.Settings

func validateExchange(e *Exchange, pp string, p *problems) {
	if !rfc3986.IsHTTPURL(e.TokenEndpoint) {
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
		if !rfc3986.IsHTTPURL(r) || strings.Contains(r, "#") {
			p.add(pathOf(pp, "resources", i), "%q: an absolute http(s) URI without a fragment (RFC 8707 §2)", r)
		}
	}
	if e.Timeout < 0 {
		p.add(pp+".timeout", "must not be negative")
	}
}

package config

import (
	"strings"
	"time"

	"github.com/authz-dev/authz/internal/rfc3986"
)

// Introspection is one RFC 7662 endpoint. Unset limits and the auth
// method take the introspect package's defaults.
type Introspection struct {
	Name     string `yaml:"name"`
	Endpoint string `yaml:"endpoint"`
	ClientID string `yaml:"client_id"`
	// ClientSecret may be "${ENV_VAR}"; ClientSecretFile names a file
	// holding it. With auth_method bearer, the secret is the bearer token.
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// AuthMethod: client_secret_basic (default), client_secret_post or bearer.
	AuthMethod string        `yaml:"auth_method"`
	Timeout    time.Duration `yaml:"timeout"`
	// MaxResponseBytes bounds the answer (default 1 MiB).
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// MaxConns sizes the keep-alive pool to the IdP (default 64).
	MaxConns int `yaml:"max_conns"`
	// MaxInFlight bounds concurrent requests to the IdP (default 64).
	MaxInFlight int    `yaml:"max_in_flight"`
	CAFile      string `yaml:"ca_file"`
	CertFile    string `yaml:"cert_file"`
	KeyFile     string `yaml:"key_file"`
	// Issuer and Audiences, when set, are checked against the response.
	Issuer    string   `yaml:"issuer"`
	Audiences []string `yaml:"audiences"`
	// TokenTypes are the values accepted in an answer's token_use, typ and
	// token_type members, compared case-insensitively; an answer naming
	// anything else (a refresh or ID token) is invalid. Default:
	// introspect.DefaultTokenTypes.
	TokenTypes []string `yaml:"token_types"`
	// SignedAnswers asks the IdP for its answer as a signed JWT (RFC 9701,
	// application/token-introspection+jwt), verified with the IdP's keys
	// from jwks_url, discovery (from issuer) or jwks_file; a policy may
	// forward it upstream (upstream_token.source: idp).
	SignedAnswers bool     `yaml:"signed_answers"`
	JWKSURL       string   `yaml:"jwks_url"`
	Discovery     bool     `yaml:"discovery"`
	JWKSFile      string   `yaml:"jwks_file"`
	Algorithms    []string `yaml:"algorithms"`

	// Secret is the resolved client secret; never printed.
	Secret string `yaml:"-"`
}

// validateIntrospection checks the endpoints (resolving their secrets) and
// returns their names, which share one namespace with the issuers'.
func validateIntrospection(endpoints []Introspection, issuers map[string]bool, p *problems) map[string]bool {
	names := map[string]bool{}
	for i := range endpoints {
		in := &endpoints[i]
		switch {
		case in.Name == "":
			p.add(pathOf("introspection", i, "name"), "is required")
		case issuers[in.Name] || names[in.Name]:
			p.add(pathOf("introspection", i, "name"), "%q is used twice (issuer and endpoint names share one namespace)", in.Name)
		}
		names[in.Name] = true
		if !rfc3986.IsHTTPURL(in.Endpoint) {
			p.add(pathOf("introspection", i, "endpoint"), "must be an http(s) URL")
		}
		warnPlainHTTP(p, pathOf("introspection", i, "endpoint"), in.Endpoint, "tokens and the client secret")
		if in.ClientSecret != "" && !strings.HasPrefix(in.ClientSecret, "${") {
			p.warn(pathOf("introspection", i, "client_secret"), "a literal secret in the config file: anyone who can read the file (a ConfigMap, a repository) has it; "+
				"use client_secret_file or \"${ENV_VAR}\"")
		}
		secret, err := p.secret(in.ClientSecret, in.ClientSecretFile)
		if err != nil {
			p.add(pathOf("introspection", i, "client_secret"), "%v", err)
		}
		in.Secret = secret
		switch in.AuthMethod {
		case "", "client_secret_basic", "client_secret_post":
			method := in.AuthMethod
			if method == "" {
				method = "client_secret_basic"
			}
			if in.ClientID == "" {
				p.add(pathOf("introspection", i, "client_id"), "is required for %s", method)
			}
			if secret == "" && err == nil {
				p.add(pathOf("introspection", i, "client_secret"), "is required for %s (client_secret or client_secret_file)", method)
			}
		case "bearer":
			if secret == "" && err == nil {
				p.add(pathOf("introspection", i, "client_secret"), "is required for bearer: it is the token sent")
			}
		default:
			p.add(pathOf("introspection", i, "auth_method"), "%q: use client_secret_basic, client_secret_post or bearer", in.AuthMethod)
		}
		if in.Timeout < 0 || in.MaxResponseBytes < 0 || in.MaxConns < 0 || in.MaxInFlight < 0 {
			p.add(pathOf("introspection", i), "timeout, max_response_bytes, max_conns and max_in_flight must not be negative")
		}
		for key, f := range map[string]string{"ca_file": in.CAFile, "cert_file": in.CertFile, "key_file": in.KeyFile} {
			p.file(f, pathOf("introspection", i, key))
		}
		if (in.CertFile == "") != (in.KeyFile == "") {
			p.add(pathOf("introspection", i), "cert_file and key_file go together")
		}
		validateSignedAnswers(in, pathOf("introspection", i), p)
		for j, tt := range in.TokenTypes {
			if strings.TrimSpace(tt) == "" {
				p.add(pathOf("introspection", i, "token_types", j), "must not be empty")
			}
		}
	}
	return names
}

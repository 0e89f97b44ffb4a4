package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
)

var knownAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (c *Config) validate() []fieldError {
	var errs []fieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, fieldError{path: path, msg: fmt.Sprintf(format, args...)})
	}
	if c.Cache.MaxBytes < 1<<20 {
		add("cache.max_bytes", "must be at least 1 MiB, got %d", c.Cache.MaxBytes)
	}
	if c.Cache.NegativeMaxBytes != 0 && c.Cache.NegativeMaxBytes < 1<<20 {
		add("cache.negative_max_bytes", "must be at least 1 MiB, got %d", c.Cache.NegativeMaxBytes)
	}
	if c.Cache.TTL < 0 {
		add("cache.ttl", "must not be negative")
	}
	if *c.Cache.NegativeTTL < 0 {
		add("cache.negative_ttl", "must not be negative")
	}
	if r := &c.Cache.Redis; r.Addr != "" {
		pass, err := resolveSecret(r.Password, r.PasswordFile)
		if err != nil {
			add("cache.redis.password", "%v", err)
		}
		r.Pass = pass
		if r.KeySaltFile == "" {
			add("cache.redis.key_salt_file", "is required with cache.redis.addr: it keys the shared entries")
		} else if salt, err := resolveSecret("", r.KeySaltFile); err != nil {
			add("cache.redis.key_salt_file", "%v", err)
		} else if len(salt) < 16 {
			add("cache.redis.key_salt_file", "the salt must be at least 16 bytes")
		} else {
			r.Salt = []byte(salt)
		}
		if r.Timeout < 0 || r.PoolSize < 0 || r.DB < 0 {
			add("cache.redis", "timeout, pool_size and db must not be negative")
		}
		if r.CAFile != "" && !r.TLS {
			add("cache.redis.ca_file", "needs tls: true")
		}
	}
	if a := c.Admin; a.Addr != "" {
		if (a.TLS.CertFile == "") != (a.TLS.KeyFile == "") {
			add("admin.tls", "cert_file and key_file go together")
		}
		if a.TLS.ClientCAFile != "" && a.TLS.CertFile == "" {
			add("admin.tls.client_ca_file", "needs cert_file and key_file: without them the listener would serve plain HTTP")
		}
		if !isLoopback(a.Addr) && (a.TLS.ClientCAFile == "" || a.TLS.CertFile == "" || a.TLS.KeyFile == "") {
			add("admin.addr", "%q is not a loopback address: set admin.tls cert_file, key_file and client_ca_file (mTLS) to expose purge", a.Addr)
		}
	}
	tls := c.GRPC.TLS
	if (tls.CertFile == "") != (tls.KeyFile == "") {
		add("grpc.tls", "cert_file and key_file go together")
	}
	if tls.ClientCAFile != "" && tls.CertFile == "" {
		add("grpc.tls.client_ca_file", "needs cert_file and key_file")
	}

	names := map[string]bool{}
	issuers := map[string]string{}
	for i, is := range c.Issuers {
		p := fmt.Sprintf("issuers.%d", i)
		switch {
		case is.Name == "":
			add(p+".name", "is required")
		case names[is.Name]:
			add(p+".name", "%q is used twice", is.Name)
		}
		names[is.Name] = true
		if is.Issuer == "" {
			add(p+".issuer", "is required")
		} else if other, dup := issuers[is.Issuer]; dup {
			add(p+".issuer", "%q is also the issuer of %s; tokens are routed by iss", is.Issuer, other)
		}
		issuers[is.Issuer] = is.Name
		if is.JWKSURL == "" && !is.Discovery && is.JWKSFile == "" {
			add(p, "one of jwks_url, discovery or jwks_file is required")
		}
		if is.JWKSURL != "" && is.Discovery {
			add(p+".discovery", "cannot be combined with jwks_url")
		}
		if is.JWKSURL != "" {
			if u, err := url.Parse(is.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				add(p+".jwks_url", "must be an http(s) URL")
			}
		}
		if is.Discovery {
			if u, err := url.Parse(is.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				add(p+".issuer", "discovery needs an http(s) issuer URL")
			}
		}
		for j, a := range is.Algorithms {
			if !slices.Contains(knownAlgorithms, a) {
				add(fmt.Sprintf("%s.algorithms.%d", p, j), "%q is not allowed; use one of %s", a, strings.Join(knownAlgorithms, ", "))
			}
		}
		if *is.Leeway < 0 || is.RefreshInterval < 0 || is.MinRefreshInterval < 0 || is.Timeout < 0 {
			add(p, "durations must not be negative")
		}
	}

	endpoints := map[string]bool{}
	for i := range c.Introspection {
		in := &c.Introspection[i]
		p := fmt.Sprintf("introspection.%d", i)
		switch {
		case in.Name == "":
			add(p+".name", "is required")
		case names[in.Name] || endpoints[in.Name]:
			add(p+".name", "%q is used twice (issuer and endpoint names share one namespace)", in.Name)
		}
		endpoints[in.Name] = true
		if u, err := url.Parse(in.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(p+".endpoint", "must be an http(s) URL")
		}
		secret, err := resolveSecret(in.ClientSecret, in.ClientSecretFile)
		if err != nil {
			add(p+".client_secret", "%v", err)
		}
		in.Secret = secret
		switch in.AuthMethod {
		case "client_secret_basic", "client_secret_post":
			if in.ClientID == "" {
				add(p+".client_id", "is required for %s", in.AuthMethod)
			}
			if secret == "" && err == nil {
				add(p+".client_secret", "is required for %s (client_secret or client_secret_file)", in.AuthMethod)
			}
		case "bearer":
			if secret == "" && err == nil {
				add(p+".client_secret", "is required for bearer: it is the token sent")
			}
		default:
			add(p+".auth_method", "%q: use client_secret_basic, client_secret_post or bearer", in.AuthMethod)
		}
		if in.Timeout < 0 || in.MaxResponseBytes < 0 || in.MaxConns < 0 || in.MaxInFlight < 0 {
			add(p, "timeout, max_response_bytes and max_conns must not be negative")
		}
		if (in.CertFile == "") != (in.KeyFile == "") {
			add(p, "cert_file and key_file go together")
		}
		for j, tt := range in.TokenTypes {
			if strings.TrimSpace(tt) == "" {
				add(fmt.Sprintf("%s.token_types.%d", p, j), "must not be empty")
			}
		}
	}
	for i, is := range c.Issuers {
		if is.Introspect != "" && !endpoints[is.Introspect] {
			add(fmt.Sprintf("issuers.%d.introspect", i), "unknown introspection endpoint %q", is.Introspect)
		}
	}

	policyNames := make([]string, 0, len(c.Policies))
	for name := range c.Policies {
		policyNames = append(policyNames, name)
	}
	sort.Strings(policyNames)
	for _, name := range policyNames {
		pol := c.Policies[name]
		p := "policies." + name
		if len(pol.TokenSources) == 0 {
			add(p+".token_sources", "needs at least one source")
		}
		for i, ts := range pol.TokenSources {
			sp := fmt.Sprintf("%s.token_sources.%d", p, i)
			switch {
			case (ts.Header == "") == (ts.Cookie == ""):
				add(sp, "set exactly one of header or cookie")
			case ts.Cookie != "" && ts.Scheme != "":
				add(sp+".scheme", "only applies to a header")
			case ts.Header != "" && !validHeaderName(ts.Header):
				add(sp+".header", "%q is not a valid header name", ts.Header)
			}
		}
		if len(pol.Validators) == 0 {
			add(p+".validators", "no validators: configure issuers or list them here")
		}
		opaque := 0
		for i, v := range pol.Validators {
			if endpoints[v] {
				if opaque++; opaque == 2 {
					add(fmt.Sprintf("%s.validators.%d", p, i), "a policy can name one introspection endpoint: opaque tokens carry no issuer to choose by")
				}
				continue
			}
			if !names[v] {
				add(fmt.Sprintf("%s.validators.%d", p, i), "unknown validator %q", v)
			}
		}
		seen := map[string]string{}
		for claim, header := range pol.Headers {
			h := strings.ToLower(header)
			if !validHeaderName(h) || h == "host" || h == "authorization" {
				add(p+".headers."+claim, "%q cannot carry a claim", header)
			}
			if other, dup := seen[h]; dup {
				add(p+".headers."+claim, "header %q also carries claim %q", header, other)
			}
			seen[h] = claim
		}
		if pol.ErrorMode != "respond" && pol.ErrorMode != "rpc_error" {
			add(p+".error_mode", "%q: use respond or rpc_error", pol.ErrorMode)
		}
		if pol.MaxHeaderBytes < 0 {
			add(p+".max_header_bytes", "must not be negative")
		}
		if ph := *pol.PayloadHeader; ph != "" && !validHeaderName(strings.ToLower(ph)) {
			add(p+".payload_header", "%q is not a valid header name", ph)
		}
	}

	for _, o := range []struct {
		name   string
		status int
	}{{"missing", c.Outcomes.Missing.Status}, {"invalid", c.Outcomes.Invalid.Status}, {"forbidden", c.Outcomes.Forbidden.Status}, {"error", c.Outcomes.Error.Status}} {
		if o.status < 300 || o.status > 599 {
			add("outcomes."+o.name+".status", "%d is not a denial status (300-599)", o.status)
		}
	}
	if !validHeaderName(strings.ToLower(c.Outcomes.Header)) {
		add("outcomes.header", "%q is not a valid header name", c.Outcomes.Header)
	}
	if strings.ContainsAny(c.Outcomes.Realm, "\"\\\r\n") {
		add("outcomes.realm", "must not contain quotes, backslashes or line breaks")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		add("log.level", "%q: use debug, info, warn or error", c.Log.Level)
	}
	if c.Log.AllowSample < 0 || c.Log.AllowSample > 1 {
		add("log.allow_sample", "must be between 0 and 1")
	}
	if c.HTTP.AllowStatus != 200 && c.HTTP.AllowStatus != 204 {
		add("http.allow_status", "%d: use 200 or 204", c.HTTP.AllowStatus)
	}
	if !strings.HasPrefix(c.HTTP.CheckPath, "/") || strings.HasSuffix(c.HTTP.CheckPath, "/") || slices.Contains([]string{"/healthz", "/readyz", "/metrics"}, c.HTTP.CheckPath) {
		add("http.check_path", "%q: a path like /check, not ending in / and not /healthz, /readyz or /metrics", c.HTTP.CheckPath)
	}
	if !slices.Contains([]string{"header", "query", "none"}, c.HTTP.PolicyFrom) {
		add("http.policy_from", "%q: use header, query or none", c.HTTP.PolicyFrom)
	}
	if c.HTTP.ReadTimeout < 0 || c.HTTP.WriteTimeout < 0 || c.HTTP.IdleTimeout < 0 {
		add("http", "read_timeout, write_timeout and idle_timeout must not be negative")
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		add("log.format", "%q: use json or text", c.Log.Format)
	}
	return errs
}

// warnings names settings that are valid but let a client force an outcome.
func (c *Config) warnings() []fieldError {
	var out []fieldError
	names := make([]string, 0, len(c.Policies))
	for name := range c.Policies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if c.Policies[name].ErrorMode == "rpc_error" {
			out = append(out, fieldError{path: "policies." + name + ".error_mode", msg: "rpc_error hands the error outcome to Envoy: " +
				"with failure_mode_allow: true a client can force fail-open (junk opaque tokens that saturate max_in_flight, " +
				"unknown kids while the JWKS is unreachable); keep failure_mode_allow false or use respond"})
		}
	}
	return out
}

// isLoopback reports whether addr (host:port) listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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

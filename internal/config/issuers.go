package config

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/rfc3986"
)

// Issuer is one trusted JWT issuer.
type Issuer struct {
	Name string `yaml:"name"`
	// Issuer is the exact iss, or a template naming {tenant} as one path
	// segment (one IdP's many tenants: tenants.go).
	Issuer string `yaml:"issuer"`
	// Tenants a templated issuer admits ("*": any, with a rule).
	Tenants []string `yaml:"tenants"`
	// Kubernetes makes this a cluster's service-account issuer
	// (kubernetes.go).
	Kubernetes *Kubernetes `yaml:"kubernetes"`
	JWKSURL    string      `yaml:"jwks_url"`
	Discovery  bool        `yaml:"discovery"`
	// JWKSFile alone is the key source; beside jwks_url or discovery it is
	// the fallback while the remote source has never answered.
	JWKSFile string `yaml:"jwks_file"`
	// Algorithms allowed (default: jwt.DefaultAlgorithms).
	Algorithms         []string       `yaml:"algorithms"`
	Audiences          []string       `yaml:"audiences"`
	Leeway             *time.Duration `yaml:"leeway"`
	Type               string         `yaml:"typ"`
	RefreshInterval    time.Duration  `yaml:"refresh_interval"`
	MinRefreshInterval time.Duration  `yaml:"min_refresh_interval"`
	Timeout            time.Duration  `yaml:"timeout"`
	// Introspect names an introspection endpoint that is also asked about
	// this issuer's JWTs once they pass the offline checks, so revocation
	// is seen within the cache TTL.
	Introspect string `yaml:"introspect"`
}

// KeySource is what decides an issuer's key set: a reload keeps the
// running key set of an issuer whose KeySource (and jwks_file content) did
// not change. Every field of Issuer is either here or listed as not
// deciding the keys (TestKeySourceCoversEveryIssuerField).
type KeySource struct {
	Issuer, JWKSURL                              string
	Discovery                                    bool
	JWKSFile                                     string
	RefreshInterval, MinRefreshInterval, Timeout time.Duration
	// Kubernetes is the API server the keys come from, and how.
	Kubernetes Kubernetes
}

// KeySource returns the settings that decide the issuer's key set.
func (is Issuer) KeySource() KeySource {
	ks := KeySource{Issuer: is.Issuer, JWKSURL: is.JWKSURL, Discovery: is.Discovery, JWKSFile: is.JWKSFile,
		RefreshInterval: is.RefreshInterval, MinRefreshInterval: is.MinRefreshInterval, Timeout: is.Timeout}
	if is.Kubernetes != nil {
		ks.Kubernetes = *is.Kubernetes
	}
	return ks
}

func (is *Issuer) setDefaults() {
	if is.Kubernetes != nil {
		is.Kubernetes.setDefaults(is)
	}
	if is.Leeway == nil {
		d := 30 * time.Second
		is.Leeway = &d
	}
}

// validateIssuers checks the issuers and returns their names.
func validateIssuers(issuers []Issuer, p *problems) map[string]bool {
	names := map[string]bool{}
	byIss := map[string]string{}
	for i, is := range issuers {
		switch {
		case is.Name == "":
			p.add(pathOf("issuers", i, "name"), "is required")
		case names[is.Name]:
			p.add(pathOf("issuers", i, "name"), "%q is used twice", is.Name)
		}
		names[is.Name] = true
		if is.Issuer == "" {
			p.add(pathOf("issuers", i, "issuer"), "is required")
		} else if other, dup := byIss[is.Issuer]; dup {
			p.add(pathOf("issuers", i, "issuer"), "%q is also the issuer of %s; tokens are routed by iss", is.Issuer, other)
		}
		byIss[is.Issuer] = is.Name
		keySource{Issuer: is.Issuer, JWKSURL: is.JWKSURL, Discovery: is.Discovery, JWKSFile: is.JWKSFile, Algorithms: is.Algorithms}.
			validate(pathOf("issuers", i), "the keys that decide which tokens are valid", p)
		validateTenants(is, pathOf("issuers", i), p)
		if is.Kubernetes != nil {
			is.Kubernetes.validate(is, pathOf("issuers", i, "kubernetes"), p)
		}
		if *is.Leeway < 0 || is.RefreshInterval < 0 || is.MinRefreshInterval < 0 || is.Timeout < 0 {
			p.add(pathOf("issuers", i), "durations must not be negative")
		}
	}
	return names
}

// keySource is where a verifier finds a signer's keys — a JWKS URL, the
// issuer's discovery document, or a file, one of them — and the
// algorithms it accepts: an issuer's, or an endpoint's signed answers'.
type keySource struct {
	Issuer, JWKSURL, JWKSFile string
	Discovery                 bool
	Algorithms                []string
}

// validate checks ks, whose settings sit under at; keys says what the
// keys decide, for the plain-HTTP warnings.
func (ks keySource) validate(at, keys string, p *problems) {
	if ks.JWKSURL == "" && !ks.Discovery {
		p.file(ks.JWKSFile, pathOf(at, "jwks_file")) // the only key source
		if ks.JWKSFile == "" {
			p.add(at, "one of jwks_url, discovery or jwks_file is required")
		}
	}
	if ks.JWKSURL != "" && ks.Discovery {
		p.add(pathOf(at, "discovery"), "cannot be combined with jwks_url")
	}
	if ks.JWKSURL != "" && !rfc3986.IsHTTPURL(ks.JWKSURL) {
		p.add(pathOf(at, "jwks_url"), "must be an http(s) URL")
	}
	warnPlainHTTP(p, pathOf(at, "jwks_url"), ks.JWKSURL, keys)
	if ks.Discovery {
		warnPlainHTTP(p, pathOf(at, "issuer"), ks.Issuer, "the discovery document that names the keys")
		if !rfc3986.IsHTTPURL(ks.Issuer) {
			p.add(pathOf(at, "issuer"), "discovery needs an http(s) issuer URL")
		}
	}
	validateAlgorithms(ks.Algorithms, pathOf(at, "algorithms"), p)
}

// validateAlgorithms checks a list of JWS algorithms a verifier allows.
func validateAlgorithms(algs []string, at string, p *problems) {
	for j, a := range algs {
		if !slices.Contains(algorithmNames(), a) {
			p.add(pathOf(at, j), "%q is not allowed; use one of %s", a, strings.Join(algorithmNames(), ", "))
		}
	}
}

func algorithmNames() []string {
	out := make([]string, len(jwt.Algorithms))
	for i, a := range jwt.Algorithms {
		out[i] = string(a)
	}
	return out
}

// warnPlainHTTP warns of an http:// URL off this host: keys or token
// answers fetched over it can be read or changed on the way.
func warnPlainHTTP(p *problems, path, raw, what string) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return
	}
	p.warn(path, "plain http to %s: %s could be read or changed on the way; use https", host, what)
}

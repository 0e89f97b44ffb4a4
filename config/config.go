// Package config holds authz's configuration file: its shape, strict
// decoding with line numbers, defaults and validation.
package config

import "time"

// Config is the whole configuration file.
type Config struct {
	GRPC    GRPC     `yaml:"grpc"`
	HTTP    HTTP     `yaml:"http"`
	Admin   Admin    `yaml:"admin"`
	Cache   Cache    `yaml:"cache"`
	Issuers []Issuer `yaml:"issuers"`
	// Introspection lists RFC 7662 endpoints for opaque (and revocable) tokens.
	Introspection []Introspection   `yaml:"introspection"`
	Policies      map[string]Policy `yaml:"policies"`
	Outcomes      Outcomes          `yaml:"outcomes"`
	Log           Log               `yaml:"log"`

	// Warnings are settings that are valid but risky, each with its line;
	// `authz validate` prints them and serve logs them.
	Warnings []string `yaml:"-"`
}

// GRPC is the Envoy ext_authz listener.
type GRPC struct {
	Addr       string `yaml:"addr"`
	TLS        TLS    `yaml:"tls"`
	Reflection bool   `yaml:"reflection"`
	// ShutdownGrace bounds how long in-flight Checks may finish on SIGTERM.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
}

// TLS enables TLS with CertFile and KeyFile, and mTLS with ClientCAFile.
type TLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// HTTP is the listener for forward auth (/check), /healthz, /readyz and /metrics.
type HTTP struct {
	Addr string `yaml:"addr"`
	// CheckPath is the forward-auth endpoint (default /check); requests
	// under CheckPath/ are Envoy's path-prefix mode.
	CheckPath string `yaml:"check_path"`
	// AllowStatus answers an allow (200 or 204; default 200).
	AllowStatus int `yaml:"allow_status"`
	// Pprof serves /debug/pprof/ on this listener. Off by default: profiles
	// reveal internals and cost CPU while taken.
	Pprof bool `yaml:"pprof"`
	// PolicyFrom says where a forward-auth request may name its policy:
	// header (X-Authz-Policy, default), query (?policy= on the exact check
	// path only) or none. Whichever it is, the proxy's config must write it.
	PolicyFrom string `yaml:"policy_from"`
	// Timeouts of the HTTP and admin listeners: reading a whole request
	// (default 10s), writing an answer (default 60s, above a 30s pprof
	// profile) and keeping an idle keep-alive connection (default 60s).
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
}

// Cache bounds the validation-result cache.
type Cache struct {
	MaxBytes int64         `yaml:"max_bytes"`
	TTL      time.Duration `yaml:"ttl"`
	// NegativeTTL caches invalid results; 0 disables. Unset means 5s.
	NegativeTTL *time.Duration `yaml:"negative_ttl"`
	// NegativeMaxBytes bounds the invalid-token cache, kept apart so junk
	// tokens cannot evict valid ones (default max_bytes/8).
	NegativeMaxBytes int64 `yaml:"negative_max_bytes"`
	// Redis is the optional tier shared by replicas.
	Redis Redis `yaml:"redis"`
}

// Redis configures the shared cache tier; an empty Addr disables it.
type Redis struct {
	Addr     string `yaml:"addr"`
	Username string `yaml:"username"`
	// Password may be "${ENV_VAR}"; PasswordFile names a file holding it.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	DB           int    `yaml:"db"`
	TLS          bool   `yaml:"tls"`
	CAFile       string `yaml:"ca_file"`
	// Prefix starts every key and the purge channel (default "authz:").
	Prefix string `yaml:"prefix"`
	// Timeout bounds each Redis call (default 50ms).
	Timeout  time.Duration `yaml:"timeout"`
	PoolSize int           `yaml:"pool_size"`
	// KeySaltFile holds the per-deployment secret (at least 16 bytes) that
	// keys entries; every replica sharing the Redis needs the same one.
	KeySaltFile string `yaml:"key_salt_file"`

	// Resolved secrets; never printed.
	Pass string `yaml:"-"`
	Salt []byte `yaml:"-"`
}

// Admin is the listener for POST /admin/purge. It is off unless Addr is
// set, and must be loopback unless it demands client certificates.
type Admin struct {
	Addr string `yaml:"addr"`
	TLS  TLS    `yaml:"tls"`
}

// Issuer is one trusted JWT issuer.
type Issuer struct {
	Name      string `yaml:"name"`
	Issuer    string `yaml:"issuer"`
	JWKSURL   string `yaml:"jwks_url"`
	Discovery bool   `yaml:"discovery"`
	// JWKSFile alone is the key source; beside jwks_url or discovery it is
	// the fallback while the remote source has never answered.
	JWKSFile           string         `yaml:"jwks_file"`
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

// Introspection is one RFC 7662 endpoint.
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

	// Secret is the resolved client secret; never printed.
	Secret string `yaml:"-"`
}

// Policy is what a route demands and forwards. Fields left out are taken
// from the "default" policy.
type Policy struct {
	TokenSources     []TokenSource     `yaml:"token_sources"`
	Validators       []string          `yaml:"validators"`
	RequireScopes    []string          `yaml:"require_scopes"`
	RequireAudiences []string          `yaml:"require_audiences"`
	Headers          map[string]string `yaml:"headers"` // claim path → header
	HeaderSeparator  *string           `yaml:"header_separator"`
	MaxHeaderBytes   int               `yaml:"max_header_bytes"`
	PayloadHeader    *string           `yaml:"payload_header"`
	DynamicMetadata  *bool             `yaml:"dynamic_metadata"`
	// ErrorMode: respond (the error outcome is a CheckResponse with its
	// status) or rpc_error (the Check RPC fails UNAVAILABLE, so Envoy's
	// failure_mode_allow / status_on_error decide).
	ErrorMode string `yaml:"error_mode"`
}

// TokenSource is one place to look for the token: a header (with an
// optional scheme such as Bearer) or a cookie.
type TokenSource struct {
	Header string `yaml:"header"`
	Scheme string `yaml:"scheme"`
	Cookie string `yaml:"cookie"`
}

// Outcomes configure how each outcome is answered.
type Outcomes struct {
	// Header names the response header carrying the outcome (default x-authz-outcome).
	Header string `yaml:"header"`
	// Realm goes into WWW-Authenticate (default "authz").
	Realm     string  `yaml:"realm"`
	Missing   Outcome `yaml:"missing"`
	Invalid   Outcome `yaml:"invalid"`
	Forbidden Outcome `yaml:"forbidden"`
	Error     Outcome `yaml:"error"`
}

// Outcome is one outcome's answer.
type Outcome struct {
	Status int `yaml:"status"`
	// RetryAfter, when set, adds Retry-After (seconds) to the answer.
	RetryAfter time.Duration `yaml:"retry_after"`
}

// Log configures the process logger and the decision log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
	// Allow logs allow decisions too, sampled at AllowSample (0..1, default 1).
	// Non-allow decisions are always logged.
	Allow       bool    `yaml:"allow"`
	AllowSample float64 `yaml:"allow_sample"`
	// Claims adds the token's claims to decision lines (personal data: off by default).
	Claims bool `yaml:"claims"`
}

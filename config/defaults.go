package config

import "time"

// DefaultPolicy is the policy used when a route names none.
const DefaultPolicy = "default"

func (c *Config) setDefaults() {
	if c.GRPC.Addr == "" {
		c.GRPC.Addr = ":9191"
	}
	if c.GRPC.ShutdownGrace == 0 {
		c.GRPC.ShutdownGrace = 15 * time.Second
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = ":8181"
	}
	if c.HTTP.CheckPath == "" {
		c.HTTP.CheckPath = "/check"
	}
	defStatus(&c.HTTP.AllowStatus, 200)
	if c.HTTP.PolicyFrom == "" {
		c.HTTP.PolicyFrom = "header"
	}
	defDuration(&c.HTTP.ReadTimeout, 10*time.Second)
	defDuration(&c.HTTP.WriteTimeout, 60*time.Second)
	defDuration(&c.HTTP.IdleTimeout, 60*time.Second)
	if c.Log.AllowSample == 0 {
		c.Log.AllowSample = 1
	}
	if c.Cache.MaxBytes == 0 {
		c.Cache.MaxBytes = 256 << 20
	}
	if c.Cache.TTL == 0 {
		c.Cache.TTL = 30 * time.Second
	}
	if c.Cache.Redis.Prefix == "" {
		c.Cache.Redis.Prefix = "authz:"
	}
	if c.Cache.Redis.Timeout == 0 {
		c.Cache.Redis.Timeout = 50 * time.Millisecond
	}
	if c.Cache.NegativeTTL == nil {
		d := 5 * time.Second
		c.Cache.NegativeTTL = &d
	}
	for i := range c.Issuers {
		is := &c.Issuers[i]
		if len(is.Algorithms) == 0 {
			is.Algorithms = []string{"RS256", "ES256"}
		}
		if is.Leeway == nil {
			d := 30 * time.Second
			is.Leeway = &d
		}
	}
	for i := range c.Introspection {
		in := &c.Introspection[i]
		if in.AuthMethod == "" {
			in.AuthMethod = "client_secret_basic"
		}
		if in.Timeout == 0 {
			in.Timeout = 2 * time.Second
		}
		if in.MaxResponseBytes == 0 {
			in.MaxResponseBytes = 1 << 20
		}
		if in.MaxConns == 0 {
			in.MaxConns = 64
		}
		if in.MaxInFlight == 0 {
			in.MaxInFlight = 64
		}

	}
	c.setPolicyDefaults()
	o := &c.Outcomes
	if o.Header == "" {
		o.Header = "x-authz-outcome"
	}
	if o.Realm == "" {
		o.Realm = "authz"
	}
	defStatus(&o.Missing.Status, 401)
	defStatus(&o.Invalid.Status, 401)
	defStatus(&o.Forbidden.Status, 403)
	defStatus(&o.Error.Status, 503)
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
}

// setPolicyDefaults fills the default policy's unset fields, then every
// other policy's unset fields from the default policy.
func (c *Config) setPolicyDefaults() {
	if c.Policies == nil {
		c.Policies = map[string]Policy{}
	}
	def := c.Policies[DefaultPolicy]
	if def.TokenSources == nil {
		def.TokenSources = []TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	}
	if def.Validators == nil {
		for _, is := range c.Issuers {
			def.Validators = append(def.Validators, is.Name)
		}
		// Opaque tokens carry no issuer, so a policy can ask only one
		// endpoint: the default takes the only one there is.
		if len(c.Introspection) == 1 {
			def.Validators = append(def.Validators, c.Introspection[0].Name)
		}
	}
	if def.HeaderSeparator == nil {
		sep := ","
		def.HeaderSeparator = &sep
	}
	if def.MaxHeaderBytes == 0 {
		def.MaxHeaderBytes = 4096
	}
	if def.PayloadHeader == nil {
		none := ""
		def.PayloadHeader = &none
	}
	if def.DynamicMetadata == nil {
		f := false
		def.DynamicMetadata = &f
	}
	if def.ErrorMode == "" {
		def.ErrorMode = "respond"
	}
	c.Policies[DefaultPolicy] = def
	for name, p := range c.Policies {
		if name == DefaultPolicy {
			continue
		}
		inherit(&p.TokenSources, def.TokenSources)
		inherit(&p.Validators, def.Validators)
		inherit(&p.RequireScopes, def.RequireScopes)
		inherit(&p.RequireAudiences, def.RequireAudiences)
		if p.Headers == nil {
			p.Headers = def.Headers
		}
		if p.HeaderSeparator == nil {
			p.HeaderSeparator = def.HeaderSeparator
		}
		if p.MaxHeaderBytes == 0 {
			p.MaxHeaderBytes = def.MaxHeaderBytes
		}
		if p.PayloadHeader == nil {
			p.PayloadHeader = def.PayloadHeader
		}
		if p.DynamicMetadata == nil {
			p.DynamicMetadata = def.DynamicMetadata
		}
		if p.ErrorMode == "" {
			p.ErrorMode = def.ErrorMode
		}
		c.Policies[name] = p
	}
}

func inherit[T any](dst *[]T, from []T) {
	if *dst == nil {
		*dst = from
	}
}

func defDuration(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

func defStatus(s *int, v int) {
	if *s == 0 {
		*s = v
	}
}

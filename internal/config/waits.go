package config

import "time"

// DefaultProxyTimeout is the auth call's timeout in the shipped Envoy
// configs and nginx recipe.
const DefaultProxyTimeout = 3 * time.Second

// validateWaits warns when a Check may wait longer than the proxy waits
// for it: a replica that waits out a fleet lease, then introspects, could
// answer after the proxy gave up — the client sees the proxy's own error
// (Envoy's 403 or failure_mode_allow, nginx's 500), not authz's.
func (c *Config) validateWaits(p *problems) {
	proxy := c.ProxyTimeout
	if proxy < 0 {
		p.add("proxy_timeout", "must not be negative")
		return
	}
	if proxy == 0 {
		proxy = DefaultProxyTimeout
	}
	var longest time.Duration
	var which string
	for _, in := range c.Introspection {
		t := in.Timeout
		if t == 0 {
			t = 2 * time.Second // the introspection client's default
		}
		if t > longest {
			longest, which = t, in.Name
		}
	}
	if longest == 0 {
		return
	}
	worst := longest
	if c.Cache.Redis.Enabled() && c.Cache.Redis.Lease != nil {
		worst += *c.Cache.Redis.Lease + 2*max(c.Cache.Redis.Timeout, 50*time.Millisecond)
	}
	if worst >= proxy {
		p.warn("proxy_timeout", "a Check may wait %s (cache.redis.lease, then introspection %s's timeout %s, and Redis) but the proxy waits %s for it: "+
			"keep lease + introspection timeout under the proxy's auth timeout (Envoy's ext_authz timeout, nginx's proxy_read_timeout), and set proxy_timeout to it",
			worst, which, longest, proxy)
	}
}

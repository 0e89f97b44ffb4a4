package config

import (
	"strconv"
	"strings"
	"time"
)

// Cache bounds the validation-result cache.
type Cache struct {
	MaxBytes int64         `yaml:"max_bytes"`
	TTL      time.Duration `yaml:"ttl"`
	// NegativeTTL caches invalid results; 0 disables. Unset means 5s.
	NegativeTTL *time.Duration `yaml:"negative_ttl"`
	// NegativeMaxBytes bounds the invalid-token cache, kept apart so junk
	// tokens cannot evict valid ones (default max_bytes/8).
	NegativeMaxBytes int64 `yaml:"negative_max_bytes"`
	// RefreshAhead is the last part of a cached IdP answer's TTL ("10%",
	// the default; "0" disables) during which a hit refreshes it in the
	// background, so no Check of a hot token waits on the IdP.
	RefreshAhead string `yaml:"refresh_ahead"`
	// Redis is the optional tier shared by replicas.
	Redis Redis `yaml:"redis"`

	// RefreshAheadFraction is RefreshAhead as a fraction (0.1).
	RefreshAheadFraction float64 `yaml:"-"`
}

// Redis configures the shared cache tier; with no address it is off.
// Prefix and Timeout default in the rediscache package.
type Redis struct {
	// Mode: single (default), cluster or sentinel.
	Mode string `yaml:"mode"`
	// Addr is a single node's host:port, shorthand for Addrs of one.
	Addr string `yaml:"addr"`
	// Addrs: the node (single), seed nodes (cluster) or sentinels.
	Addrs []string `yaml:"addrs"`
	// MasterName names the master Sentinel monitors (sentinel mode).
	MasterName string `yaml:"master_name"`
	// SentinelPassword may be "${ENV_VAR}"; SentinelPasswordFile names a
	// file holding it.
	SentinelPassword     string `yaml:"sentinel_password"`
	SentinelPasswordFile string `yaml:"sentinel_password_file"`
	// RouteReads: master (default) or replicas (cluster and sentinel).
	RouteReads string `yaml:"route_reads"`
	Username   string `yaml:"username"`
	// Password may be "${ENV_VAR}"; PasswordFile names a file holding it.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	DB           int    `yaml:"db"`
	TLS          bool   `yaml:"tls"`
	CAFile       string `yaml:"ca_file"`
	// CertFile and KeyFile: a client certificate, for Redis with mTLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Prefix starts every key and the purge channel (default "authz:").
	Prefix string `yaml:"prefix"`
	// Timeout bounds each Redis call (default 50ms).
	Timeout  time.Duration `yaml:"timeout"`
	PoolSize int           `yaml:"pool_size"`
	// Lease is how long one replica may judge a token alone while the
	// others wait for its verdict in Redis, so the IdP sees one call per
	// token per TTL across the fleet; past it, a waiting replica judges
	// the token itself. Unset means 500ms; 0 turns leases off. Set it
	// above the IdP's slowest usual answer.
	Lease *time.Duration `yaml:"lease"`
	// KeySaltFile holds the per-deployment secret (at least 16 bytes) that
	// keys entries; every replica sharing the Redis needs the same one.
	KeySaltFile string `yaml:"key_salt_file"`

	// Resolved secrets; never printed.
	Pass         string `yaml:"-"`
	SentinelPass string `yaml:"-"`
	Salt         []byte `yaml:"-"`
}

// Enabled reports whether the shared tier is configured.
func (r *Redis) Enabled() bool { return r.Addr != "" || len(r.Addrs) > 0 }

// Nodes is Addrs, or Addr alone.
func (r *Redis) Nodes() []string {
	if len(r.Addrs) > 0 {
		return r.Addrs
	}
	return []string{r.Addr}
}

func (c *Cache) setDefaults() {
	setDefault(&c.MaxBytes, 256<<20)
	setDefault(&c.TTL, 30*time.Second)
	setDefault(&c.RefreshAhead, "10%")
	if c.NegativeTTL == nil {
		d := 5 * time.Second
		c.NegativeTTL = &d
	}
	if c.Redis.Lease == nil {
		d := 500 * time.Millisecond
		c.Redis.Lease = &d
	}
}

func (c *Cache) validate(p *problems) {
	if c.MaxBytes < 1<<20 {
		p.add("cache.max_bytes", "must be at least 1 MiB, got %d", c.MaxBytes)
	}
	if c.NegativeMaxBytes != 0 && c.NegativeMaxBytes < 1<<20 {
		p.add("cache.negative_max_bytes", "must be at least 1 MiB, got %d", c.NegativeMaxBytes)
	}
	if c.TTL < 0 {
		p.add("cache.ttl", "must not be negative")
	}
	if *c.NegativeTTL < 0 {
		p.add("cache.negative_ttl", "must not be negative")
	}
	pct, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(c.RefreshAhead, "%")), 64)
	if err != nil || pct < 0 || pct >= 100 || (pct > 0 && !strings.HasSuffix(c.RefreshAhead, "%")) {
		p.add("cache.refresh_ahead", "%q: a percentage of the TTL below 100%%, like 10%%, or 0", c.RefreshAhead)
	}
	c.RefreshAheadFraction = pct / 100
	c.Redis.validate(p)
}

func (r *Redis) validate(p *problems) {
	if !r.Enabled() {
		return
	}
	if r.Addr != "" && len(r.Addrs) > 0 {
		p.add("cache.redis.addr", "set addr (one node) or addrs, not both")
	}
	switch r.Mode {
	case "", "single":
		if len(r.Addrs) > 1 {
			p.add("cache.redis.addrs", "single mode takes one address; set mode: cluster or sentinel for more")
		}
		if r.MasterName != "" {
			p.add("cache.redis.master_name", "only applies to mode: sentinel")
		}
	case "cluster":
		if r.DB != 0 {
			p.add("cache.redis.db", "a Redis Cluster has database 0 only")
		}
		if r.MasterName != "" {
			p.add("cache.redis.master_name", "only applies to mode: sentinel")
		}
	case "sentinel":
		if r.MasterName == "" {
			p.add("cache.redis.master_name", "is required with mode: sentinel")
		}
	default:
		p.add("cache.redis.mode", "%q: use single, cluster or sentinel", r.Mode)
	}
	switch r.RouteReads {
	case "", "master":
	case "replicas":
		if r.Mode == "" || r.Mode == "single" {
			p.add("cache.redis.route_reads", "replicas needs mode: cluster or sentinel")
		}
	default:
		p.add("cache.redis.route_reads", "%q: use master or replicas", r.RouteReads)
	}
	if spass, err := p.secret(r.SentinelPassword, r.SentinelPasswordFile); err != nil {
		p.add("cache.redis.sentinel_password", "%v", err)
	} else {
		r.SentinelPass = spass
	}
	if (r.CertFile == "") != (r.KeyFile == "") {
		p.add("cache.redis", "cert_file and key_file go together")
	}
	p.file(r.CAFile, "cache.redis.ca_file")
	p.file(r.CertFile, "cache.redis.cert_file")
	p.file(r.KeyFile, "cache.redis.key_file")
	if r.CertFile != "" && !r.TLS {
		p.add("cache.redis.cert_file", "needs tls: true")
	}
	pass, err := p.secret(r.Password, r.PasswordFile)
	if err != nil {
		p.add("cache.redis.password", "%v", err)
	}
	r.Pass = pass
	if r.KeySaltFile == "" {
		p.add("cache.redis.key_salt_file", "is required with cache.redis.addr: it keys the shared entries")
	} else if salt, err := p.secret("", r.KeySaltFile); err != nil {
		p.add("cache.redis.key_salt_file", "%v", err)
	} else if len(salt) < 16 {
		p.add("cache.redis.key_salt_file", "the salt must be at least 16 bytes")
	} else {
		r.Salt = []byte(salt)
	}
	if r.Timeout < 0 || r.PoolSize < 0 || r.DB < 0 {
		p.add("cache.redis", "timeout, pool_size and db must not be negative")
	}
	if r.Lease != nil && *r.Lease < 0 {
		p.add("cache.redis.lease", "must not be negative (0 turns leases off)")
	}
	if r.CAFile != "" && !r.TLS {
		p.add("cache.redis.ca_file", "needs tls: true")
	}
}

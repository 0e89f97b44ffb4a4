package config

import (
	"os"
	"slices"

	"github.com/authz-dev/authz/authz/apikey"
)

// APIKeys is a validator of API keys (docs/api-keys.md): a file of key
// hashes, each with the metadata that becomes the key's claims. Token
// sources that carry API keys name it (token_sources[].api_keys).
type APIKeys struct {
	// Name shares one namespace with issuers and introspection endpoints.
	Name string `yaml:"name"`
	// File maps each key's SHA-256 (hex) to its entry; authz reads it
	// again when it changes.
	File string `yaml:"file"`
	// RedisKey is instead a Redis hash of the shared tier (cache.redis),
	// field = a key's SHA-256, value = its entry: for fleets that add
	// keys at run time (HSET, HDEL). One of file and redis_key.
	RedisKey string `yaml:"redis_key"`
}

// validateAPIKeys checks the validators (reading each key file, unless
// offline, so a malformed line is refused with its line) and the token
// sources that name them.
func validateAPIKeys(c *Config, taken map[string]bool, p *problems) map[string]bool {
	names := map[string]bool{}
	for i, k := range c.APIKeys {
		switch {
		case k.Name == "":
			p.add(pathOf("api_keys", i, "name"), "is required")
		case taken[k.Name] || names[k.Name]:
			p.add(pathOf("api_keys", i, "name"), "%q is used twice (issuers, introspection endpoints and api_keys share one namespace)", k.Name)
		}
		names[k.Name] = true
		switch {
		case k.File != "" && k.RedisKey != "":
			p.add(pathOf("api_keys", i), "set one of file and redis_key")
		case k.RedisKey != "":
			if !c.Cache.Redis.Enabled() {
				p.add(pathOf("api_keys", i, "redis_key"), "reads the shared tier's Redis: configure cache.redis")
			}
		case k.File == "":
			p.add(pathOf("api_keys", i, "file"), "is required: the key hashes (authz apikey new prints a key and its line), or redis_key")
		default:
			// Hashes, not secrets: read even offline, when the file is
			// there (CI checks a config beside its key file).
			if _, err := os.Stat(k.File); err != nil && p.offline {
				break
			}
			if _, err := apikey.Load(k.File); err != nil {
				p.add(pathOf("api_keys", i, "file"), "%v", err)
			}
		}
	}
	for _, name := range c.policyNames() {
		for i, ts := range c.Policies[name].TokenSources {
			if ts.APIKeys != "" && !names[ts.APIKeys] {
				p.add(pathOf("policies", name, "token_sources", i, "api_keys"), "unknown api_keys validator %q", ts.APIKeys)
			}
		}
	}
	return names
}

// acceptAPIKeys adds to each policy's validators the API-key validators
// its own token sources name: a key from such a source is judged by it,
// and the policy accepts what it judges.
func (c *Config) acceptAPIKeys() {
	for _, name := range c.policyNames() {
		p := c.Policies[name]
		for _, ts := range p.TokenSources {
			if ts.APIKeys != "" && !slices.Contains(p.Validators, ts.APIKeys) {
				p.Validators = append(slices.Clone(p.Validators), ts.APIKeys)
			}
		}
		c.Policies[name] = p
	}
}

func unionOf(a, b map[string]bool) map[string]bool {
	u := make(map[string]bool, len(a)+len(b))
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

package config

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"time"
)

// DPoP configures how DPoP proofs (RFC 9449) are checked, for every policy
// that meets a DPoP-bound token.
type DPoP struct {
	// Algorithms a proof may be signed with (default: the sender package's
	// ES256, ES384, RS256, PS256, EdDSA, Ed25519); asymmetric only.
	Algorithms []string `yaml:"algorithms"`
	// Window: a proof's iat must be within this of now, either side
	// (default 60s), plus Leeway for clock skew (default 5s).
	Window *time.Duration `yaml:"window"`
	Leeway *time.Duration `yaml:"leeway"`
	// ReplayMaxEntries bounds the used-proof set (default 1,000,000, about
	// 100 MB); at the bound new proofs are an error, never forgotten early.
	ReplayMaxEntries int `yaml:"replay_max_entries"`
	// ReplayMaxPerKey bounds one proof key's share of that set (default
	// replay_max_entries/16): past it that key's proofs are refused, so one
	// client cannot fill the set for everyone.
	ReplayMaxPerKey int `yaml:"replay_max_per_key"`
	// RequireNonce makes every proof carry a nonce authz issued (RFC 9449
	// §8), signed with the key in NonceKeyFile (at least 32 bytes; the
	// same file on every replica) and good for NonceLifetime (default 5m).
	RequireNonce  bool          `yaml:"require_nonce"`
	NonceKeyFile  string        `yaml:"nonce_key_file"`
	NonceLifetime time.Duration `yaml:"nonce_lifetime"`

	// NonceKey is read from NonceKeyFile at load.
	NonceKey []byte `yaml:"-"`
}

func (d *DPoP) setDefaults() {
	if d.Window == nil {
		w := 60 * time.Second
		d.Window = &w
	}
	if d.Leeway == nil {
		l := 5 * time.Second
		d.Leeway = &l
	}
	if d.NonceLifetime == 0 {
		d.NonceLifetime = 5 * time.Minute
	}
}

func (d *DPoP) validate(p *problems) {
	for i, a := range d.Algorithms {
		if !slices.Contains(algorithmNames(), a) {
			p.add(pathOf("dpop", "algorithms", i), "%q is not allowed; use one of %s", a, strings.Join(algorithmNames(), ", "))
		}
	}
	if *d.Window <= 0 {
		p.add("dpop.window", "must be positive")
	}
	if *d.Leeway < 0 {
		p.add("dpop.leeway", "must not be negative")
	}
	if d.ReplayMaxEntries < 0 {
		p.add("dpop.replay_max_entries", "must not be negative")
	}
	if d.ReplayMaxPerKey < 0 {
		p.add("dpop.replay_max_per_key", "must not be negative")
	}
	if d.NonceLifetime < 0 {
		p.add("dpop.nonce_lifetime", "must not be negative")
	}
	if !d.RequireNonce {
		return
	}
	if d.NonceKeyFile == "" {
		p.add("dpop.nonce_key_file", "require_nonce needs a key file (at least 32 random bytes, the same on every replica)")
		return
	}
	if p.offline {
		return
	}
	key, err := os.ReadFile(d.NonceKeyFile)
	switch {
	case err != nil:
		p.add("dpop.nonce_key_file", "%v", err)
	case len(bytes.TrimSpace(key)) < 32:
		p.add("dpop.nonce_key_file", "holds %d bytes; want at least 32", len(bytes.TrimSpace(key)))
	default:
		d.NonceKey = bytes.TrimSpace(key)
	}
}

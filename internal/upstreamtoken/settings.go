package upstreamtoken

import (
	"fmt"
	"time"

	"github.com/authz-dev/authz/internal/rfc3986"
)

// Settings are the config file's upstream_tokens section: authz's own
// signing keys, for the tokens policies mint for their upstreams. Its keys
// are these fields' tags, their defaults Defaults and their checks Check,
// so a new setting is a field here and its row in docs/configuration.md.
type Settings struct {
	// Issuer is the minted tokens' iss, and where discovery finds the keys
	// (issuer + /.well-known/openid-configuration).
	Issuer string `yaml:"issuer"`
	// JWKSURI is what discovery names as the keys' URL (default: issuer +
	// JWKSPath).
	JWKSURI string `yaml:"jwks_uri"`
	// KeyFiles are PEM private keys (P-256, Ed25519 or RSA): the first
	// signs, every one is published, so tokens signed by a key being
	// retired verify until they expire.
	KeyFiles []string `yaml:"key_files"`
	// Lifetime bounds every minted token (default 5m); each also ends
	// with the token it stands for.
	Lifetime time.Duration `yaml:"lifetime"`
}

// Enabled reports whether authz has signing keys.
func (s Settings) Enabled() bool { return len(s.KeyFiles) > 0 }

// Defaults fills what the file left out.
func (s *Settings) Defaults() {
	if s.Lifetime == 0 {
		s.Lifetime = 5 * time.Minute
	}
}

// Check reports each mistake in s (after Defaults) by its key in the
// section, and what is allowed but likely wrong to warn; the key files'
// content is the loader's to check (LoadKey).
func (s *Settings) Check(report, warn func(key, problem string)) {
	if !s.Enabled() {
		if s.Issuer != "" || s.JWKSURI != "" {
			report("key_files", "needed: without a key authz signs nothing")
		}
		return
	}
	if s.Issuer == "" {
		report("issuer", "is required: the minted tokens' iss, and where verifiers find the keys")
	} else if !rfc3986.IsHTTPURL(s.Issuer) {
		warn("issuer", fmt.Sprintf("%q is not an http(s) URL: verifiers that use discovery cannot find the keys from it", s.Issuer))
	}
	if s.JWKSURI != "" && !rfc3986.IsHTTPURL(s.JWKSURI) {
		report("jwks_uri", "must be an http(s) URL")
	}
	if s.Lifetime < time.Second {
		report("lifetime", "must be at least 1s")
	}
}

// Load loads the signing keys s names: the Minter policies' steps sign
// with (onMint told of each signature) and the documents the HTTP listener
// publishes. Both nil when s has no keys.
func Load(s Settings, onMint func()) (*Minter, *Published, error) {
	if !s.Enabled() {
		return nil, nil, nil
	}
	keys, err := NewKeySet(s.KeyFiles)
	if err != nil {
		return nil, nil, err
	}
	published, err := Publish(s.Issuer, s.JWKSURI, keys)
	if err != nil {
		return nil, nil, err
	}
	return &Minter{Issuer: s.Issuer, Keys: keys, Lifetime: s.Lifetime, OnMint: onMint}, published, nil
}

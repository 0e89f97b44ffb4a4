package config

import (
	"slices"
	"strings"
	"time"
)

// DPoP configures how DPoP proofs (RFC 9449) are checked, for every policy
// that meets a DPoP-bound token.
type DPoP struct {
	// Algorithms a proof may be signed with (default: the sender package's
	// ES256, ES384, RS256, PS256, EdDSA); asymmetric only.
	Algorithms []string `yaml:"algorithms"`
	// Window: a proof's iat must be within this of now, either side
	// (default 60s), plus Leeway for clock skew (default 5s).
	Window *time.Duration `yaml:"window"`
	Leeway *time.Duration `yaml:"leeway"`
	// ReplayMaxEntries bounds the used-proof set (default 1,000,000, about
	// 100 MB); at the bound new proofs are an error, never forgotten early.
	ReplayMaxEntries int `yaml:"replay_max_entries"`
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
}

// senderConstraints are the values of a policy's sender_constraint.
var senderConstraints = []string{"off", "dpop", "mtls", "any"}

package sender

import (
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Settings are the config file's dpop section: how DPoP proofs (RFC 9449)
// are checked, for every policy that meets a DPoP-bound token. Its keys
// are these fields' tags, their defaults Defaults and their checks Check,
// so a new setting is a field here and its row in docs/configuration.md.
type Settings struct {
	// Algorithms a proof may be signed with (default DefaultAlgorithms);
	// asymmetric only.
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
	// §8), signed with the key in NonceKeyFile (at least MinNonceKeyBytes;
	// the same file on every replica) and good for NonceLifetime (default
	// 5m).
	RequireNonce  bool          `yaml:"require_nonce"`
	NonceKeyFile  string        `yaml:"nonce_key_file"`
	NonceLifetime time.Duration `yaml:"nonce_lifetime"`

	// NonceKey is NonceKeyFile's content, read by whoever loads the file.
	NonceKey []byte `yaml:"-"`
}

// MinNonceKeyBytes is the shortest nonce key accepted.
const MinNonceKeyBytes = 32

// Defaults fills what the file left out.
func (s *Settings) Defaults() {
	if s.Window == nil {
		w := 60 * time.Second
		s.Window = &w
	}
	if s.Leeway == nil {
		l := 5 * time.Second
		s.Leeway = &l
	}
	if s.NonceLifetime == 0 {
		s.NonceLifetime = 5 * time.Minute
	}
}

// Check reports each mistake in s (after Defaults) by its key in the
// section; the nonce key file's content is the loader's to check.
func (s *Settings) Check(report func(key, problem string)) {
	var names []string
	for _, a := range asymmetric {
		names = append(names, string(a))
	}
	for i, a := range s.Algorithms {
		if !slices.Contains(names, a) {
			report(fmt.Sprintf("algorithms.%d", i), fmt.Sprintf("%q is not allowed; use one of %s", a, strings.Join(names, ", ")))
		}
	}
	if *s.Window <= 0 {
		report("window", "must be positive")
	}
	if *s.Leeway < 0 {
		report("leeway", "must not be negative")
	}
	if s.ReplayMaxEntries < 0 {
		report("replay_max_entries", "must not be negative")
	}
	if s.ReplayMaxPerKey < 0 {
		report("replay_max_per_key", "must not be negative")
	}
	if s.NonceLifetime < 0 {
		report("nonce_lifetime", "must not be negative")
	}
	if s.RequireNonce && s.NonceKeyFile == "" {
		report("nonce_key_file", fmt.Sprintf("require_nonce needs a key file (at least %d random bytes, the same on every replica)", MinNonceKeyBytes))
	}
}

// ReplayOptions are the used-proof set s asks for: its span (a proof
// older than Window+Leeway is refused anyway) and its bounds. The caller
// adds the shared tier and where floods are told.
func (s *Settings) ReplayOptions() ReplayOptions {
	return ReplayOptions{Span: 2 * (*s.Window + *s.Leeway), MaxEntries: s.ReplayMaxEntries, MaxPerKey: s.ReplayMaxPerKey}
}

// Options are the checks s asks for, over replay.
func (s *Settings) Options(replay *Replay) Options {
	algs := make([]jose.SignatureAlgorithm, len(s.Algorithms))
	for i, a := range s.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	o := Options{Algorithms: algs, Window: *s.Window, Leeway: *s.Leeway, Replay: replay}
	if s.RequireNonce {
		o.Nonces = NewNonces(s.NonceKey, s.NonceLifetime, nil)
	}
	return o
}

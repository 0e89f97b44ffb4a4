package upstreamtoken

import (
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Each mistake in the section is reported under its own key; an issuer
// discovery cannot use is a warning, not a refusal.
func TestSettingsCheck(t *testing.T) {
	keys, issuer := []string{"k.pem"}, "https://authz.example"
	// Each section, and the keys it is refused under, then warned under.
	for name, c := range map[string]struct {
		s               Settings
		refused, warned string
	}{
		"an issuer without keys":    {Settings{Issuer: issuer}, "key_files", ""},
		"keys without an issuer":    {Settings{KeyFiles: keys}, "issuer", ""},
		"an issuer that is no URL":  {Settings{KeyFiles: keys, Issuer: "authz"}, "", "issuer"},
		"a jwks_uri that is no URL": {Settings{KeyFiles: keys, Issuer: issuer, JWKSURI: "/keys"}, "jwks_uri", ""},
		"a lifetime under a second": {Settings{KeyFiles: keys, Issuer: issuer, Lifetime: time.Millisecond}, "lifetime", ""},
		"nothing at all":            {Settings{}, "", ""},
		"a good section":            {Settings{KeyFiles: keys, Issuer: issuer}, "", ""},
	} {
		c.s.Defaults()
		var refused, warned []string
		c.s.Check(func(key, _ string) { refused = append(refused, key) }, func(key, _ string) { warned = append(warned, key) })
		if strings.Join(refused, ",") != c.refused || strings.Join(warned, ",") != c.warned {
			t.Errorf("%s: refused under %q, warned under %q; want %q and %q", name, refused, warned, c.refused, c.warned)
		}
	}
}

// Load makes the minter and the published documents from the files, or
// nothing without keys.
func TestLoad(t *testing.T) {
	if m, p, err := Load(Settings{}, nil); m != nil || p != nil || err != nil {
		t.Errorf("no keys: %v %v %v", m, p, err)
	}
	s := Settings{Issuer: "https://authz.example", KeyFiles: writeKeys(t, t.TempDir(), jose.ES256, jose.EdDSA)}
	s.Defaults()
	m, p, err := Load(s, func() {})
	if err != nil || p == nil {
		t.Fatalf("load: %v", err)
	}
	if m.Issuer != s.Issuer || m.Lifetime != 5*time.Minute || len(m.Keys.Keys()) != 2 || m.Keys.Active().Algorithm != "ES256" || m.OnMint == nil {
		t.Errorf("minter %+v", m)
	}
	if _, _, err := Load(Settings{Issuer: "https://authz.example", KeyFiles: []string{"/nonexistent.pem"}}, nil); err == nil {
		t.Error("a missing key file loaded")
	}
}

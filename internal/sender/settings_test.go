package sender

import (
	"testing"
	"time"
)

// Each mistake in the section is reported under its own key; a good one
// makes the checks it says.
func TestSettings(t *testing.T) {
	neg := -time.Second
	cases := []struct {
		name string
		s    Settings
		key  string
	}{
		{"a MAC", Settings{Algorithms: []string{"ES256", "HS256"}}, "algorithms.1"},
		{"none", Settings{Algorithms: []string{"none"}}, "algorithms.0"},
		{"no window", Settings{Window: new(time.Duration)}, "window"},
		{"a negative leeway", Settings{Leeway: &neg}, "leeway"},
		{"a negative bound", Settings{ReplayMaxPerKey: -1}, "replay_max_per_key"},
		{"nonces without a key", Settings{RequireNonce: true}, "nonce_key_file"},
	}
	for _, c := range cases {
		c.s.Defaults()
		var keys []string
		c.s.Check(func(key, _ string) { keys = append(keys, key) })
		if len(keys) != 1 || keys[0] != c.key {
			t.Errorf("%s: reported under %q, want only %q", c.name, keys, c.key)
		}
	}

	s := Settings{Algorithms: []string{"ES256", "Ed25519"}, ReplayMaxEntries: 100, RequireNonce: true, NonceKeyFile: "k", NonceKey: make([]byte, MinNonceKeyBytes)}
	s.Defaults()
	s.Check(func(key, problem string) { t.Errorf("a good section: %s: %s", key, problem) })
	if ro := s.ReplayOptions(); ro.Span != 2*65*time.Second || ro.MaxEntries != 100 {
		t.Errorf("replay options %+v: want a span of twice window+leeway", ro)
	}
	o := s.Options(NewReplay(s.ReplayOptions()))
	if len(o.Algorithms) != 2 || o.Window != time.Minute || o.Leeway != 5*time.Second || o.Nonces == nil {
		t.Errorf("options %+v", o)
	}
	if _, err := New(o); err != nil {
		t.Errorf("the checks a good section asks for: %v", err)
	}
}

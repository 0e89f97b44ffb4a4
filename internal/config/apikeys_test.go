package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A key file's mistakes are config errors with the file's line, offline
// too (hashes are not secrets); an unknown api_keys name in a token source
// is an error; a policy accepts the keys its own sources carry.
func TestAPIKeysConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "keys.yaml")
	os.WriteFile(good, []byte(strings.Repeat("a", 64)+": { sub: partner-a }\n"), 0o600)
	dup := filepath.Join(dir, "dup.yaml")
	os.WriteFile(dup, []byte(strings.Repeat("b", 64)+": { sub: a }\n"+strings.Repeat("b", 64)+": { sub: b }\n"), 0o600)
	conf := func(file, source string) string {
		return minimal + "  partner-api:\n    token_sources: [{ header: x-api-key, api_keys: " + source + " }]\napi_keys:\n  - { name: partners, file: " + file + " }\n"
	}
	cfg, err := Parse([]byte(conf(good, "partners")))
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Policies["partner-api"].Validators; !strings.Contains(strings.Join(v, ","), "partners") {
		t.Errorf("the policy's validators %v do not accept its own source's keys", v)
	}
	for name, c := range map[string]struct{ yaml, want string }{
		"a duplicate hash":  {conf(dup, "partners"), "key file: line 2: the hash is listed twice"},
		"an unknown name":   {conf(good, "nobody"), `unknown api_keys validator "nobody"`},
		"a missing file":    {conf(filepath.Join(dir, "none.yaml"), "partners"), "api_keys.0.file"},
		"a name used twice": {strings.Replace(conf(good, "partners"), "name: partners", "name: corp", 1), `"corp" is used twice`},
	} {
		if _, err := Parse([]byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", name, err, c.want)
		}
	}
	if _, err := parse("", []byte(conf(dup, "partners")), true); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("offline, a duplicate hash: %v", err)
	}
}

package policytest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/authz-dev/authz/authz/apikey"
)

// apiKeyFor is the key a case's api_key entry stands for: the same entry
// the same key, so the run's file, written before the server starts,
// knows every case's key.
func apiKeyFor(entry map[string]any) string {
	b, _ := json.Marshal(entry) // YAML values: strings, numbers, maps, lists
	sum := sha256.Sum256(b)
	return apikey.Prefix + "test_" + hex.EncodeToString(sum[:16])
}

// writeAPIKeys writes the run's key file: each case's key hash with its
// entry.
func (r *Runner) writeAPIKeys(cases []Case) (string, error) {
	file := map[string]map[string]any{}
	for _, c := range cases {
		if c.Token == nil || c.Token.APIKey == nil {
			continue
		}
		key := apiKeyFor(c.Token.APIKey)
		r.apiKeys[key] = c.Token.APIKey
		file[apikey.Hash(key)] = c.Token.APIKey
	}
	b, err := yaml.Marshal(file)
	if err != nil {
		return "", err
	}
	path := filepath.Join(r.dir, "api-keys.yaml")
	return path, os.WriteFile(path, b, 0o600)
}

// Package apikey judges API keys: long random strings partners and
// scripts present instead of OAuth tokens. authz stores only their SHA-256
// hashes, each with metadata that becomes the key's claims, so scopes,
// rules, claim headers and upstream tokens work for a key as for a token.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Entry is one key's metadata, as the key file writes it. Its fields
// become the key's claims: sub (the owner), client_id, scope, tenant and
// labels (each label a claim of its own name).
type Entry struct {
	Sub      string            `yaml:"sub"`
	ClientID string            `yaml:"client_id"`
	Scope    string            `yaml:"scope"`
	Tenant   string            `yaml:"tenant"`
	Labels   map[string]string `yaml:"labels"`
	// Expires ends the key (RFC 3339); none: it lasts until removed.
	Expires time.Time `yaml:"expires"`
	// Disabled revokes the key at once without removing its line.
	Disabled bool `yaml:"disabled"`

	hash [sha256.Size]byte
}

// reserved are claims a label may not overwrite.
var reserved = []string{"sub", "client_id", "scope", "tenant", "exp", "iss", "aud", "api_key_id"}

// Set is a parsed key file: hash → entry.
type Set struct {
	byHash map[[sha256.Size]byte]*Entry
	// digest is the SHA-256 of the file's content: the set's fingerprint.
	digest string
}

// Len is the number of keys.
func (s *Set) Len() int { return len(s.byHash) }

// Parse reads a key file: a YAML mapping from each key's SHA-256 (64
// lower-case hex digits) to its entry. Errors name the line: a hash that
// is not one, a duplicate, an unknown field, a label that would overwrite
// a claim.
func Parse(b []byte) (*Set, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	s := &Set{byHash: map[[sha256.Size]byte]*Entry{}}
	sum := sha256.Sum256(b)
	s.digest = hex.EncodeToString(sum[:])
	if len(doc.Content) == 0 {
		return s, nil // an empty file: no keys
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("key file: line %d: want a mapping of key hashes to their entries", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		raw, err := hex.DecodeString(k.Value)
		if err != nil || len(raw) != sha256.Size || strings.ToLower(k.Value) != k.Value {
			return nil, fmt.Errorf("key file: line %d: %q is not a key's SHA-256 (64 lower-case hex digits; authz apikey new prints one)", k.Line, truncate(k.Value))
		}
		var h [sha256.Size]byte
		copy(h[:], raw)
		if _, dup := s.byHash[h]; dup {
			return nil, fmt.Errorf("key file: line %d: the hash is listed twice", k.Line)
		}
		var e Entry
		if err := decodeEntry(v, &e); err != nil {
			return nil, fmt.Errorf("key file: %v", err)
		}
		if e.Sub == "" {
			return nil, fmt.Errorf("key file: line %d: sub (the key's owner) is required", v.Line)
		}
		for _, name := range slices.Sorted(maps.Keys(e.Labels)) {
			if slices.Contains(reserved, name) {
				return nil, fmt.Errorf("key file: line %d: label %q would overwrite the claim of that name", v.Line, name)
			}
		}
		e.hash = h
		s.byHash[h] = &e
	}
	return s, nil
}

// entryFields are the keys an entry may have.
var entryFields = []string{"sub", "client_id", "scope", "tenant", "labels", "expires", "disabled"}

// decodeEntry decodes one entry, refusing a field Entry does not have,
// with the line of the field.
func decodeEntry(n *yaml.Node, e *Entry) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want the key's entry, like { sub: partner-a, scope: orders:read }", n.Line)
	}
	for i := 0; i < len(n.Content); i += 2 {
		if f := n.Content[i]; !slices.Contains(entryFields, f.Value) {
			return fmt.Errorf("line %d: unknown field %q (an entry has %s)", f.Line, f.Value, strings.Join(entryFields, ", "))
		}
	}
	if err := n.Decode(e); err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	return nil
}

// Load reads and parses a key file.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Prefix starts every key authz makes: a reader (a secret scanner, a
// person) can tell one from other secrets.
const Prefix = "azk_"

// NewKey returns a fresh key (256 random bits) and its hash, as the key
// file writes it.
func NewKey() (key, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	key = Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, Hash(key), nil
}

// Hash is the key file's name for key: its SHA-256, lower-case hex.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

var errUnknownKey = errors.New("unknown API key")

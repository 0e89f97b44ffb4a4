package apikey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/authz-dev/authz/authz"
)

// Store is where a fleet keeps keys it adds at run time: one entry per
// key hash (lower-case hex), as the key file writes it (YAML or JSON).
// found is false for a hash it does not hold; err is the store failing.
type Store interface {
	Lookup(ctx context.Context, hash string) (entry []byte, found bool, err error)
}

// StoreValidator judges API keys by a Store: a key added, disabled or
// deleted there counts from the next Check (verdicts are not cached). A
// store that fails is an error, never an allow and never invalid.
type StoreValidator struct {
	Name  string
	Store Store
}

// Validate implements authz.Validator.
func (v *StoreValidator) Validate(ctx context.Context, key string) (*authz.Result, error) {
	sum := sha256.Sum256([]byte(key))
	raw, found, err := v.Store.Lookup(ctx, hex.EncodeToString(sum[:]))
	switch {
	case err != nil:
		return nil, fmt.Errorf("api keys %s: %w: %w", v.Name, authz.ErrUnavailable, err)
	case !found:
		return nil, fmt.Errorf("%w: %v", authz.ErrInvalidToken, errUnknownKey)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("api keys %s: %w: the store's entry for a key is not an entry", v.Name, authz.ErrUnavailable)
	}
	var e Entry
	if err := decodeEntry(doc.Content[0], &e); err != nil || e.Sub == "" {
		return nil, fmt.Errorf("api keys %s: %w: the store's entry for a key is not an entry (sub required): %v", v.Name, authz.ErrUnavailable, err)
	}
	e.hash = sum
	return result(v.Name, &e, sum)
}

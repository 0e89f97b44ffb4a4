// Package upstreamtoken hands the upstream a token it can verify, in place
// of (or beside) claim headers it can only trust: a JWT authz mints and
// signs with its own keys, which it publishes as a JWKS, or the IdP's own
// signed introspection answer (RFC 9701) passed on as it came.
package upstreamtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/internal/keyfile"
)

// SigningKey is one of authz's own keys.
type SigningKey struct {
	// ID is the key's RFC 7638 thumbprint (SHA-256, base64url): the same
	// key always has the same kid, on every replica, across restarts.
	ID        string
	Algorithm jose.SignatureAlgorithm
	// Public is the JWK the key set publishes.
	Public jose.JSONWebKey
	signer jose.Signer
}

// minRSABits is the smallest RSA key accepted (RFC 7518 §3.3 asks 2048).
const minRSABits = 2048

// LoadKey reads a PEM private key (PKCS #8, SEC 1 "EC PRIVATE KEY" or
// PKCS #1 "RSA PRIVATE KEY") and chooses its algorithm by its type: P-256
// signs ES256, Ed25519 EdDSA, RSA RS256.
func LoadKey(path string) (*SigningKey, error) {
	priv, err := keyfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	k, err := newSigningKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

// ParseKey is LoadKey on the file's bytes.
func ParseKey(pemBytes []byte) (*SigningKey, error) {
	priv, err := keyfile.Parse(pemBytes)
	if err != nil {
		return nil, err
	}
	return newSigningKey(priv)
}

func newSigningKey(priv any) (*SigningKey, error) {
	var alg jose.SignatureAlgorithm
	var pub crypto.PublicKey
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("EC key on %s: use P-256 (ES256)", k.Curve.Params().Name)
		}
		alg, pub = jose.ES256, k.Public()
	case ed25519.PrivateKey:
		alg, pub = jose.EdDSA, k.Public()
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at least %d", k.N.BitLen(), minRSABits)
		}
		alg, pub = jose.RS256, k.Public()
	default:
		return nil, fmt.Errorf("%T keys cannot sign: use P-256, Ed25519 or RSA", priv)
	}
	jwk := jose.JSONWebKey{Key: pub, Algorithm: string(alg), Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: jwk.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return &SigningKey{ID: jwk.KeyID, Algorithm: alg, Public: jwk, signer: signer}, nil
}

// Sign signs payload (the claims' JSON) as a compact JWS.
func (k *SigningKey) Sign(payload []byte) (string, error) {
	obj, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign with %s: %w", k.ID, err)
	}
	return obj.CompactSerialize()
}

// KeySet is authz's signing keys: the first signs, all are published, so
// a token signed by a key being retired verifies until it expires.
type KeySet struct {
	keys []*SigningKey
	jwks []byte // the public set, as served
}

// NewKeySet loads the key files; the first is the active key.
func NewKeySet(files []string) (*KeySet, error) {
	if len(files) == 0 {
		return nil, errors.New("no signing keys")
	}
	ks := &KeySet{}
	seen := map[string]string{}
	for _, f := range files {
		k, err := LoadKey(f)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[k.ID]; dup {
			return nil, fmt.Errorf("signing keys %s and %s are the same key", other, f)
		}
		seen[k.ID] = f
		ks.keys = append(ks.keys, k)
	}
	set := jose.JSONWebKeySet{}
	for _, k := range ks.keys {
		set.Keys = append(set.Keys, k.Public)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode jwks: %w", err)
	}
	ks.jwks = b
	return ks, nil
}

// Active is the key that signs.
func (ks *KeySet) Active() *SigningKey { return ks.keys[0] }

// Keys are every key, the active one first.
func (ks *KeySet) Keys() []*SigningKey { return ks.keys }

// JWKS is the public key set as JSON: no private member ever.
func (ks *KeySet) JWKS() []byte { return ks.jwks }

// Algorithms are the keys' algorithms, for discovery.
func (ks *KeySet) Algorithms() []string {
	var out []string
	for _, k := range ks.keys {
		a := string(k.Algorithm)
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

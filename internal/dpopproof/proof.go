// Package dpopproof makes what a DPoP client sends (RFC 9449): a proof of
// possession of its key for one request, and the key thumbprint a bound
// token names in cnf.jkt. authz itself only checks proofs (package
// sender); its tools make them — authz check, authz test, the demo and the
// load generator.
package dpopproof

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Signer signs proofs with one client key, its public half in each
// proof's header (§4.2).
type Signer struct {
	signer jose.Signer
}

// NewSigner signs with key (an ECDSA, RSA or Ed25519 private key) under alg.
func NewSigner(key any, alg jose.SignatureAlgorithm) (*Signer, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, fmt.Errorf("dpop signer %s: %w", alg, err)
	}
	return &Signer{signer: s}, nil
}

// Request is what one proof is for.
type Request struct {
	// Method and URL are the request's htm and htu (use TargetURL).
	Method, URL string
	// Token is the access token the request carries; its hash goes in ath.
	Token string
	// IssuedAt is the proof's iat (zero: now).
	IssuedAt time.Time
	// Nonce, when set, is the server's last DPoP-Nonce (§8).
	Nonce string
}

// Sign makes a proof for r with a fresh random jti: a proof is good for
// one request only.
func (s *Signer) Sign(r Request) (string, error) {
	var jti [16]byte
	rand.Read(jti[:])
	iat := r.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	ath := sha256.Sum256([]byte(r.Token))
	claims := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "htm": r.Method, "htu": r.URL,
		"iat": iat.Unix(), "ath": base64.RawURLEncoding.EncodeToString(ath[:]),
	}
	if r.Nonce != "" {
		claims["nonce"] = r.Nonce
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := s.signer.Sign(body)
	if err != nil {
		return "", fmt.Errorf("sign dpop proof: %w", err)
	}
	return jws.CompactSerialize()
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of pub, as a bound
// token's cnf.jkt names it.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// TargetURL is a request's htu: its URL without query or fragment (§4.2).
func TargetURL(scheme, host, path string) string {
	path, _, _ = strings.Cut(path, "?")
	path, _, _ = strings.Cut(path, "#")
	return scheme + "://" + host + path
}

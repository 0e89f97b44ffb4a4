package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/internal/keyfile"
)

// readDPoPKey reads a client's DPoP private key (PEM: PKCS#8, SEC 1 EC or
// PKCS#1 RSA) and the algorithm it signs proofs with.
func readDPoPKey(path string) (any, jose.SignatureAlgorithm, error) {
	key, err := keyfile.Read(path)
	if err != nil {
		return nil, "", err
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P384() {
			return k, jose.ES384, nil
		}
		return k, jose.ES256, nil
	case *rsa.PrivateKey:
		return k, jose.PS256, nil
	case ed25519.PrivateKey:
		return k, jose.EdDSA, nil
	}
	return nil, "", errors.New(path + ": not an EC, RSA or Ed25519 private key")
}

// dpopProof makes a fresh DPoP proof (RFC 9449 §4.2) for one request, with
// go-jose: the key's public half in the header, a random jti, the token's
// hash in ath.
func dpopProof(key any, alg jose.SignatureAlgorithm, method, htu, token string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	sum := sha256.Sum256([]byte(token))
	body, _ := json.Marshal(map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": htu,
		"iat": time.Now().Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:]),
	})
	jws, err := signer.Sign(body)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// dpopThumbprint is the RFC 7638 thumbprint a token's cnf.jkt names.
func dpopThumbprint(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// htuOf is the request's target without query, as a proof names it.
func htuOf(scheme, host, path string) string {
	path, _, _ = strings.Cut(path, "?")
	return scheme + "://" + host + path
}

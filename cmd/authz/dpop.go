package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"

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

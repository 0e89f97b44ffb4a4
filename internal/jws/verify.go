package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"math/big"

	jose "github.com/go-jose/go-jose/v4"
)

// Ed25519 is RFC 9864's fully-specified name for EdDSA over Ed25519 (which
// deprecates the polymorphic "EdDSA"); go-jose has no constant for it yet.
// It verifies exactly as go-jose's EdDSA does: Ed25519 keys only.
const Ed25519 jose.SignatureAlgorithm = "Ed25519"

// Verify checks sig over input with key under alg, by the
// standard library's verifiers, with the rules go-jose applies for the
// same algorithms (RFC 7518 §3): the key type and curve must fit alg, an
// ECDSA signature is R||S at the curve's fixed size. A key of another type
// (an "oct" key in the set, say) never verifies.
func Verify(alg jose.SignatureAlgorithm, key any, input string, sig []byte) bool {
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		pub, ok := key.(*rsa.PublicKey)
		if !ok || pub == nil {
			return false
		}
		h := hashFor(alg)
		digest := sum(h, input)
		if alg == jose.RS256 || alg == jose.RS384 || alg == jose.RS512 {
			return rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil
		}
		return rsa.VerifyPSS(pub, h, digest, sig, nil) == nil
	case jose.ES256, jose.ES384, jose.ES512:
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok || pub == nil {
			return false
		}
		curve, size := elliptic.P256(), 32
		switch alg {
		case jose.ES384:
			curve, size = elliptic.P384(), 48
		case jose.ES512:
			curve, size = elliptic.P521(), 66
		}
		if pub.Curve != curve || len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, sum(hashFor(alg), input), r, s)
	case jose.EdDSA, Ed25519:
		pub, ok := key.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
			return false
		}
		return ed25519.Verify(pub, []byte(input), sig)
	}
	return false
}

func hashFor(alg jose.SignatureAlgorithm) crypto.Hash {
	switch alg {
	case jose.RS384, jose.PS384, jose.ES384:
		return crypto.SHA384
	case jose.RS512, jose.PS512, jose.ES512:
		return crypto.SHA512
	}
	return crypto.SHA256
}

func sum(h crypto.Hash, input string) []byte {
	w := h.New()
	w.Write([]byte(input))
	return w.Sum(nil)
}

package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/internal/testidp"
)

// BenchmarkVerify sets the whole JWT path (parse, route by iss, verify,
// claims) beside the bare signature verification of the same token with the
// same key, in one run: the ratio is the validator's overhead.
func BenchmarkVerify(b *testing.B) {
	idp, err := testidp.New()
	if err != nil {
		b.Fatal(err)
	}
	defer idp.Close()
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA} {
		key, err := testidp.NewKey("k-"+string(alg), alg)
		if err != nil {
			b.Fatal(err)
		}
		idp.AddKey(key)
	}
	keys, err := NewKeys(KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()})
	if err != nil {
		b.Fatal(err)
	}
	defer keys.Close()
	<-keys.Ready()
	iss, _ := NewIssuer(IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Audiences: []string{"orders-api"}, Algorithms: Algorithms, Keys: keys})
	set, _ := NewSet(iss)
	ctx := context.Background()

	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA} {
		kid := "k-" + string(alg)
		tok, err := idp.Mint(kid, idp.Claims("alice", time.Hour, "orders:read orders:write", "orders-api"))
		if err != nil {
			b.Fatal(err)
		}
		ks := idp.KeySet()
		pub := ks.Key(kid)[0].Key
		dot := strings.LastIndexByte(tok, '.')
		input := []byte(tok[:dot])
		sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])

		b.Run(string(alg)+"/validator", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := set.Validate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(alg)+"/bare-verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !bareVerify(alg, pub, input, sig) {
					b.Fatal("bare verify failed")
				}
			}
		})
	}
}

// bareVerify is the signature check alone, with the standard library.
func bareVerify(alg jose.SignatureAlgorithm, pub any, input, sig []byte) bool {
	switch alg {
	case jose.RS256:
		h := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig) == nil
	case jose.PS256:
		h := sha256.Sum256(input)
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig, nil) == nil
	case jose.ES256:
		h := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub.(*ecdsa.PublicKey), h[:], r, s)
	case jose.EdDSA:
		return ed25519.Verify(pub.(ed25519.PublicKey), input, sig)
	}
	return false
}

package testsupport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DPoPClient is a client's DPoP key, with proofs made by go-jose (not by
// anything of authz's): well-formed ones, and the malformed ones tests
// need (a private jwk, another typ, HMAC).
type DPoPClient struct {
	t   testing.TB
	Key *ecdsa.PrivateKey
	// JKT is the key's thumbprint, as a bound token's cnf.jkt names it.
	JKT string
}

// NewDPoPClient makes a client with a fresh P-256 key.
func NewDPoPClient(t testing.TB) *DPoPClient {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &DPoPClient{t: t, Key: key, JKT: base64.RawURLEncoding.EncodeToString(tp)}
}

// ATH is a proof's ath for token.
func ATH(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ProofClaims are a proof's claims for GET https://shop.example/orders/1.
func ProofClaims(token string) map[string]any {
	return map[string]any{
		"jti": fmt.Sprintf("%d", time.Now().UnixNano()), "htm": "GET", "htu": "https://shop.example/orders/1",
		"iat": time.Now().Unix(), "ath": ATH(token),
	}
}

// Proof signs claims as a DPoP proof: typ dpop+jwt, the public key in jwk.
func (c *DPoPClient) Proof(claims map[string]any, edit ...func(*jose.SignerOptions)) string {
	return c.SignProof(jose.SigningKey{Algorithm: jose.ES256, Key: c.Key}, true, claims, edit...)
}

// SignProof signs claims with sk, the public key embedded or not, the
// options edited.
func (c *DPoPClient) SignProof(sk jose.SigningKey, embed bool, claims map[string]any, edit ...func(*jose.SignerOptions)) string {
	c.t.Helper()
	opts := &jose.SignerOptions{EmbedJWK: embed}
	opts.WithType("dpop+jwt")
	for _, e := range edit {
		e(opts)
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := json.Marshal(claims)
	jws, err := signer.Sign(body)
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

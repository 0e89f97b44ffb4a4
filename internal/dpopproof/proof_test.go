package dpopproof

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// A proof is what RFC 9449 §4.2 says: typ dpop+jwt, the public key in the
// header (never the private one), htm, htu, iat, a fresh jti and ath.
func TestAProofIsWhatTheRFCSays(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := NewSigner(key, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_000, 0)
	read := func(proof string) (jose.Header, map[string]any) {
		t.Helper()
		jws, err := jose.ParseSignedCompact(proof, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		h := jws.Signatures[0].Protected
		if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
			t.Fatalf("the header's jwk %+v is not a public key", h.JSONWebKey)
		}
		payload, err := jws.Verify(h.JSONWebKey)
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		json.Unmarshal(payload, &claims)
		return h, claims
	}
	first, err := s.Sign(Request{Method: "POST", URL: TargetURL("https", "shop.example", "/orders?x=1#f"), Token: "tok", IssuedAt: at, Nonce: "n-1"})
	if err != nil {
		t.Fatal(err)
	}
	h, c := read(first)
	sum := sha256.Sum256([]byte("tok"))
	if h.ExtraHeaders["typ"] != "dpop+jwt" || c["htm"] != "POST" || c["htu"] != "https://shop.example/orders" ||
		c["iat"] != float64(at.Unix()) || c["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) || c["nonce"] != "n-1" {
		t.Errorf("header %v claims %v", h.ExtraHeaders, c)
	}
	second, _ := s.Sign(Request{Method: "POST", URL: "https://shop.example/orders", Token: "tok", IssuedAt: at})
	if _, c2 := read(second); c2["jti"] == c["jti"] || len(c2["jti"].(string)) < 20 || c2["nonce"] != nil {
		t.Errorf("jti %v then %v; nonce %v", c["jti"], c2["jti"], c2["nonce"])
	}
}

// The thumbprint is RFC 7638's, over the required members only: §3.1's
// example key gives §3.1's thumbprint.
func TestThumbprintIsRFC7638s(t *testing.T) {
	var k jose.JSONWebKey
	rfc := `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	if err := k.UnmarshalJSON([]byte(rfc)); err != nil {
		t.Fatal(err)
	}
	if got, err := Thumbprint(k.Key); err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("thumbprint %q, %v", got, err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := Thumbprint(ed.Public()); err != nil {
		t.Errorf("Ed25519: %v", err)
	}
}

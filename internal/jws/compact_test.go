package jws

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/internal/testidp"
)

var allAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// signers holds a key of every algorithm and their public set.
type signers struct {
	keys map[jose.SignatureAlgorithm]testidp.Key
	jwks jose.JSONWebKeySet
}

func newSigners(tb testing.TB) *signers {
	tb.Helper()
	idp, err := testidp.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(idp.Close)
	keys, err := idp.AddKeyPerAlgorithm(allAlgorithms)
	if err != nil {
		tb.Fatal(err)
	}
	s := &signers{keys: keys}
	s.jwks = idp.KeySet()
	return s
}

// sign signs a JWT with alg's key and extra protected headers, by go-jose.
func (s *signers) sign(tb testing.TB, alg jose.SignatureAlgorithm, extra map[string]any) string {
	tb.Helper()
	tok, err := testidp.SignWithHeaders(s.keys[alg], map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}, extra)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// goJoseVerifies is the path authz used before its own split: go-jose
// parses the whole token and verifies it with the key its kid names.
func (s *signers) goJoseVerifies(token string) bool {
	jws, err := jose.ParseSignedCompact(token, allAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return false
	}
	h := jws.Signatures[0].Header
	for _, key := range s.jwks.Key(h.KeyID) {
		if key.Algorithm != "" && key.Algorithm != h.Algorithm {
			continue
		}
		if _, err := jws.Verify(key.Key); err == nil {
			return true
		}
	}
	return false
}

// ownVerifies is the same question asked of Split and Verify.
func (s *signers) ownVerifies(p *Parser, token string) bool {
	tok, err := p.Split(token)
	if err != nil {
		return false
	}
	for _, key := range s.jwks.Key(tok.Header.KeyID) {
		if key.Algorithm != "" && key.Algorithm != string(tok.Header.Alg) {
			continue
		}
		if Verify(tok.Header.Alg, key.Key, tok.SigningInput, tok.Signature) {
			return true
		}
	}
	return false
}

// canonical reports whether each base64url part is the one encoding of its
// bytes (go-jose re-encodes what it decoded before verifying; authz
// verifies the text it was given).
func canonical(token string) bool {
	for _, part := range strings.Split(token, ".") {
		b, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != part {
			return false
		}
	}
	return true
}

// hasExtension reports a crit or b64 protected header, which authz refuses
// and go-jose understands (RFC 7797).
func hasExtension(token string) bool {
	hdr, _, _ := strings.Cut(token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(hdr)
	var m map[string]json.RawMessage
	json.Unmarshal(raw, &m)
	_, crit := m["crit"]
	_, b64 := m["b64"]
	return crit || b64
}

// FuzzSplitMatchesGoJose: Split and Verify accept exactly what go-jose
// accepts, except two documented refusals: a non-canonical base64 spelling
// of a signed part and RFC 7797's crit/b64. Never the other way round.
func FuzzSplitMatchesGoJose(f *testing.F) {
	s := newSigners(f)
	p := NewParser(allAlgorithms)
	for _, alg := range allAlgorithms {
		f.Add(s.sign(f, alg, nil))
	}
	f.Add(s.sign(f, jose.RS256, map[string]any{"typ": "at+jwt", "cty": "JWT"}))
	f.Add(s.sign(f, jose.ES256, map[string]any{"crit": []string{"b64"}, "b64": true}))
	f.Add(s.sign(f, jose.ES256, map[string]any{"jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}))
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("eyJhbGciOiJIUzI1NiIsImtpZCI6ImstUlMyNTYifQ.e30.c2ln")
	f.Fuzz(func(t *testing.T, token string) {
		own, ref := s.ownVerifies(p, token), s.goJoseVerifies(token)
		if own && !ref {
			t.Fatalf("authz verifies %q, go-jose does not", token)
		}
		if ref && !own && canonical(token) && !hasExtension(token) {
			t.Fatalf("go-jose verifies %q, authz does not", token)
		}
	})
}

// TestHeaderMemoIsBounded: tokens with ever new headers (random kids) never
// grow the memo past its bound, and known tokens keep splitting meanwhile.
func TestHeaderMemoIsBounded(t *testing.T) {
	s := newSigners(t)
	p := NewParser(allAlgorithms)
	good := s.sign(t, jose.ES256, nil)
	_, rest, _ := strings.Cut(good, ".")
	for i := range 3 * maxHeaders {
		h, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": fmt.Sprintf("random-%d", i)})
		if _, err := p.Split(base64.RawURLEncoding.EncodeToString(h) + "." + rest); err != nil {
			t.Fatalf("random kid: %v", err)
		}
		if n := p.Remembered(); n > maxHeaders {
			t.Fatalf("memo holds %d headers, bound %d", n, maxHeaders)
		}
		if i%100 == 0 && !s.ownVerifies(p, good) {
			t.Fatal("a good token stopped verifying")
		}
	}
}

// TestEmbeddedKey: a header's public jwk comes back with its RFC 7638
// thumbprint; a private one is refused by go-jose's own check.
func TestEmbeddedKey(t *testing.T) {
	s := newSigners(t)
	p := NewParser(allAlgorithms)
	key := s.keys[jose.ES256]
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key.Private}, &jose.SignerOptions{EmbedJWK: true})
	obj, _ := signer.Sign([]byte(`{}`))
	tok, _ := obj.CompactSerialize()
	c, err := p.Split(tok)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.jwks.Key("k-ES256")[0].Thumbprint(crypto.SHA256)
	if c.Header.JWK == nil || c.Header.Thumbprint != base64.RawURLEncoding.EncodeToString(want) {
		t.Fatalf("thumbprint %q", c.Header.Thumbprint)
	}
	if !Verify(c.Header.Alg, c.Header.JWK.Key, c.SigningInput, c.Signature) {
		t.Fatal("does not verify with its own jwk")
	}
	priv, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key.Private},
		(&jose.SignerOptions{}).WithHeader("jwk", jose.JSONWebKey{Key: key.Private}))
	obj, _ = priv.Sign([]byte(`{}`))
	tok, _ = obj.CompactSerialize()
	if _, err := p.Split(tok); err == nil {
		t.Fatal("a private jwk in the header was accepted")
	}
}

package jwt

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/testidp"
)

// signers is a key set of every allowed algorithm, published as a file, and
// the Set that trusts it.
type signers struct {
	idp  *testidp.IdP
	keys map[jose.SignatureAlgorithm]testidp.Key
	jwks jose.JSONWebKeySet
	set  *Set
}

func newSigners(tb testing.TB) *signers {
	tb.Helper()
	idp, err := testidp.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(idp.Close)
	signing, err := idp.AddKeyPerAlgorithm(Algorithms)
	if err != nil {
		tb.Fatal(err)
	}
	s := &signers{idp: idp, keys: signing}
	s.jwks = idp.KeySet()
	body, _ := json.Marshal(s.jwks)
	file := filepath.Join(tb.TempDir(), "jwks.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		tb.Fatal(err)
	}
	keys, err := NewKeys(KeysOptions{File: file, Issuer: idp.Issuer()})
	if err != nil {
		tb.Fatal(err)
	}
	iss, err := NewIssuer(IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: Algorithms, Keys: keys})
	if err != nil {
		tb.Fatal(err)
	}
	s.set, _ = NewSet(iss)
	return s
}

// sign signs claims with alg's key and extra protected headers, by go-jose.
func (s *signers) sign(tb testing.TB, alg jose.SignatureAlgorithm, extra map[string]any) string {
	tb.Helper()
	tok, err := testidp.SignWithHeaders(s.keys[alg], s.idp.Claims("alice", time.Hour, "orders:read"), extra)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestSignatureChecks(t *testing.T) {
	s := newSigners(t)
	ctx := context.Background()
	for _, alg := range Algorithms {
		t.Run("valid/"+string(alg), func(t *testing.T) {
			if _, err := s.set.Validate(ctx, s.sign(t, alg, nil)); err != nil {
				t.Fatal(err)
			}
		})
	}

	rsaKey := s.keys[jose.RS256].Private.(*rsa.PrivateKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	hmacWithPublicKey, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubDER},
		(&jose.SignerOptions{}).WithHeader("kid", "k-RS256"))
	confused, _ := josejwt.Signed(hmacWithPublicKey).Claims(s.idp.Claims("alice", time.Hour, "")).Serialize()

	good := s.sign(t, jose.RS256, nil)
	hdr, rest, _ := strings.Cut(good, ".")
	// Another spelling of the same header bytes, if its last character
	// carries unused bits.
	raw, _ := base64.RawURLEncoding.DecodeString(hdr)
	respelled := ""
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		other := hdr[:len(hdr)-1] + string(c)
		if b, err := base64.RawURLEncoding.DecodeString(other); err == nil && other != hdr && string(b) == string(raw) {
			respelled = other + "." + rest
			break
		}
	}

	esTok := s.sign(t, jose.ES256, nil)
	dot := strings.LastIndexByte(esTok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(esTok[dot+1:])
	shortSig := esTok[:dot+1] + base64.RawURLEncoding.EncodeToString(sig[1:])

	private, _ := json.Marshal(jose.JSONWebKey{Key: s.keys[jose.ES256].Private, KeyID: "x"})
	var privateJWK map[string]any
	json.Unmarshal(private, &privateJWK)

	cases := []struct {
		name, token, want string
	}{
		{"alg none", "eyJhbGciOiJub25lIiwia2lkIjoiay1SUzI1NiJ9." + strings.Split(good, ".")[1] + ".", "malformed or disallowed"},
		{"HS256 keyed with the RSA public key", confused, "malformed or disallowed"},
		{"crit b64", s.sign(t, jose.ES256, map[string]any{"crit": []string{"b64"}, "b64": true}), "crit and b64"},
		{"crit unknown", s.sign(t, jose.ES256, map[string]any{"crit": []string{"exp"}, "exp": 1}), "crit and b64"},
		{"embedded private jwk", s.sign(t, jose.ES256, map[string]any{"jwk": privateJWK}), "malformed or disallowed"},
		{"ES256 signature one byte short", shortSig, "signature does not verify"},
		{"alg swapped to PS256 under an RS256 key", swapAlg(t, good, "PS256"), "signature does not verify"},
		{"two dots too many", good + ".x", "three parts"},
	}
	if respelled != "" {
		cases = append(cases, struct{ name, token, want string }{"header respelled with other padding bits", respelled, "signature does not verify"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.set.Validate(ctx, c.token)
			if !errors.Is(err, authz.ErrInvalidToken) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want invalid with %q", err, c.want)
			}
		})
	}
}

// swapAlg rewrites the header's alg, keeping kid and signature.
func swapAlg(t *testing.T, token, alg string) string {
	hdr, rest, _ := strings.Cut(token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(hdr)
	var h map[string]any
	json.Unmarshal(raw, &h)
	h["alg"] = alg
	raw, _ = json.Marshal(h)
	return base64.RawURLEncoding.EncodeToString(raw) + "." + rest
}

package upstreamtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
)

func pemOf(t *testing.T, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParseKey(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	for name, c := range map[string]struct {
		pem  []byte
		want string // "" accepts
	}{
		"P-256, SEC 1":     {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ""},
		"P-384":            {pemOf(t, p384), "use P-256"},
		"RSA 1024":         {pemOf(t, small), "at least 2048"},
		"a certificate":    {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), `"CERTIFICATE" is not a private key`},
		"two keys":         {append(pemOf(t, p256), pemOf(t, p256)...), "one key per file"},
		"not PEM":          {[]byte("hello"), "no PEM block"},
		"a public key PEM": {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), "not a private key"},
	} {
		t.Run(name, func(t *testing.T) {
			k, err := ParseKey(c.pem)
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want == "" && k.Algorithm != jose.ES256:
				t.Fatalf("alg %s", k.Algorithm)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// kid is the RFC 7638 thumbprint: SHA-256 of the key's required members
// in lexical order, without whitespace (§3.2; for OKP keys RFC 8037 §2).
func TestKidIsTheRFC7638Thumbprint(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, err := ParseKey(pemOf(t, priv))
	if err != nil {
		t.Fatal(err)
	}
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.ID != want || k.Algorithm != jose.EdDSA {
		t.Fatalf("kid %s alg %s, want %s EdDSA", k.ID, k.Algorithm, want)
	}
}

func newMinter(t *testing.T) *Minter {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	path := filepath.Join(t.TempDir(), "k.pem")
	os.WriteFile(path, pemOf(t, priv), 0o600)
	ks, err := NewKeySet([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	return &Minter{Issuer: "https://authz.test", Keys: ks, Lifetime: 5 * time.Minute}
}

func claimsOf(t *testing.T, ks *KeySet, tok string) map[string]any {
	t.Helper()
	sig, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := sig.Verify(ks.Active().Public)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(payload, &c)
	return c
}

func TestMintLifetimeAndClaims(t *testing.T) {
	m := newMinter(t)
	now := time.Unix(1_800_000_000, 0)
	m.now = func() time.Time { return now }
	step := &Mint{Minter: m, Audience: "orders", Header: "x-identity", Claims: []string{"scope", "missing"},
		RequestClaims: []RequestClaim{{Claim: "htm", Part: "method"}}, Lifetime: time.Minute}
	req := &authz.Request{Method: "POST", Host: "shop.example", Path: "/orders"}
	claims := map[string]any{"sub": "alice", "scope": "a b", "iss": "https://idp.example/", "email": "a@example.com"}

	cases := []struct {
		name    string
		expiry  time.Time
		wantExp int64
	}{
		{"the policy's lifetime, shorter than the token's", now.Add(time.Hour), now.Add(time.Minute).Unix()},
		{"never past the token's exp", now.Add(20*time.Second + 700*time.Millisecond), now.Add(20 * time.Second).Unix()},
		{"a token without exp: the lifetime", time.Time{}, now.Add(time.Minute).Unix()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d authz.Decision
			if err := step.Forward(context.Background(), &authz.UpstreamInput{Request: req, Claims: claims, Expiry: c.expiry}, &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Headers) != 1 || d.Headers[0].Name != "x-identity" {
				t.Fatalf("headers %v", d.Headers)
			}
			got := claimsOf(t, m.Keys, d.Headers[0].Value)
			if int64(got["exp"].(float64)) != c.wantExp {
				t.Errorf("exp %v, want %d", got["exp"], c.wantExp)
			}
			for k, v := range map[string]any{"iss": "https://authz.test", "aud": "orders", "sub": "alice", "scope": "a b", "htm": "POST", "orig_iss": "https://idp.example/"} {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			for _, absent := range []string{"email", "missing", "nbf"} {
				if _, ok := got[absent]; ok {
					t.Errorf("%s was minted", absent)
				}
			}
		})
	}

	// An original that expires now: no token, an error (the Check fails
	// closed rather than forwarding without what the upstream expects).
	var d authz.Decision
	if err := step.Forward(context.Background(), &authz.UpstreamInput{Request: req, Claims: claims, Expiry: now.Add(300 * time.Millisecond)}, &d); err == nil || len(d.Headers) != 0 {
		t.Fatalf("minted for a token that expires now: %v %v", err, d.Headers)
	}
	// No token (an optional one not sent): the header is removed.
	d = authz.Decision{}
	if err := step.Forward(context.Background(), &authz.UpstreamInput{Request: req}, &d); err != nil || len(d.Headers) != 0 || d.RemoveHeaders[0] != "x-identity" {
		t.Fatalf("without a token: %v %v %v", err, d.Headers, d.RemoveHeaders)
	}
}

package sender

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
)

func proofBy(t *testing.T, key *ecdsa.PrivateKey, token, jti string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(token))
	body, _ := json.Marshal(map[string]any{"jti": jti, "htm": "GET", "htu": "https://api.example/x", "iat": time.Now().Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:])})
	jws, err := signer.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func thumbprint(t *testing.T, key *ecdsa.PrivateKey) string {
	tp, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// TestAStolenTokenCannotFillTheReplaySet: proofs by any key but the
// token's own are refused before the replay set remembers them.
func TestAStolenTokenCannotFillTheReplaySet(t *testing.T) {
	replay := NewReplay(ReplayOptions{Span: 2 * time.Minute, MaxEntries: 10})
	c, err := New(Options{Replay: replay})
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	thief, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	req := &authz.Request{Method: "GET", Scheme: "https", Host: "api.example", Path: "/x"}
	const token = "the-stolen-token"
	for i := range 50 {
		err := c.DPoP(context.Background(), req, proofBy(t, thief, token, fmt.Sprint(i)), token, thumbprint(t, owner))
		var se *authz.SenderError
		if !errors.As(err, &se) || se.Reason != "dpop_binding" {
			t.Fatalf("thief's proof: %v", err)
		}
	}
	if n := replay.Len(); n != 0 {
		t.Fatalf("the replay set remembers %d of the thief's proofs", n)
	}
	if err := c.DPoP(context.Background(), req, proofBy(t, owner, token, "owner-1"), token, thumbprint(t, owner)); err != nil {
		t.Fatalf("owner's proof: %v", err)
	}
}

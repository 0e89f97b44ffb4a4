package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/testidp"
)

// FuzzValidate: the JWT front (compact parse, header and payload decoding,
// routing by iss) never panics, and a token not signed by the issuer is
// always invalid — never valid, never "unavailable".
func FuzzValidate(f *testing.F) {
	idp, err := testidp.New()
	if err != nil {
		f.Fatal(err)
	}
	defer idp.Close()
	body, _ := json.Marshal(idp.KeySet())
	file := filepath.Join(f.TempDir(), "jwks.json")
	os.WriteFile(file, body, 0o600)
	keys, err := NewKeys(KeysOptions{File: file, Issuer: idp.Issuer()})
	if err != nil {
		f.Fatal(err)
	}
	iss, _ := NewIssuer(IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: Algorithms, Keys: keys})
	set, _ := NewSet(iss)

	other, _ := testidp.NewKey("rsa-1", "RS256") // same kid, unpublished key
	forged, _ := testidp.Sign(other, idp.Claims("a", time.Hour, ""))
	f.Add(forged)
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("eyJhbGciOiJIUzI1NiIsImtpZCI6InJzYS0xIn0.e30.c2ln")
	f.Add("a.b.c")
	f.Add("....")
	f.Fuzz(func(t *testing.T, token string) {
		res, err := set.Validate(context.Background(), token)
		if err == nil || res != nil {
			t.Fatalf("token %q validated without the issuer's key", token)
		}
		if !errors.Is(err, authz.ErrInvalidToken) || errors.Is(err, authz.ErrUnavailable) {
			t.Fatalf("error %v is not a plain invalid", err)
		}
	})
}

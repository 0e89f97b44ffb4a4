package jwt

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/authz-dev/authz/internal/testidp"
)

func TestParseKeySetKeepsOnlyPublicSigningKeys(t *testing.T) {
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	pub, _ := json.Marshal(idp.KeySet())
	// Splice in keys a JWKS must never make us trust for signatures: an HMAC
	// secret, an encryption key, and a key of an unknown type.
	doc := strings.Replace(string(pub), `{"keys":[`, `{"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0"},{"kty":"RSA","use":"enc","kid":"enc","n":"sXch","e":"AQAB"},{"kty":"XYZ","kid":"odd"},`, 1)
	set, err := parseKeySet([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
		if !k.IsPublic() {
			t.Errorf("key %s is not public", k.KeyID)
		}
	}
	if strings.Join(kids, ",") != "rsa-1,ec-1" {
		t.Errorf("kept keys %v, want rsa-1,ec-1", kids)
	}
	if _, err := parseKeySet([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)); err == nil {
		t.Error("a JWKS of only symmetric keys must be refused")
	}
	if _, err := parseKeySet([]byte(`<html>`)); err == nil {
		t.Error("garbage must be refused")
	}
}

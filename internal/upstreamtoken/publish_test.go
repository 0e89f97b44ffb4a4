package upstreamtoken

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authz-dev/authz/internal/testidp"
	jose "github.com/go-jose/go-jose/v4"
)

// writeKeys writes one new private key of each algorithm to dir, in
// order, and returns the files.
func writeKeys(t *testing.T, dir string, algs ...jose.SignatureAlgorithm) []string {
	t.Helper()
	var files []string
	for _, alg := range algs {
		f, err := testidp.WriteKeyFile(dir, alg)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// The documents verifiers read: the public keys (no private member, cache
// headers, the active key first) and a discovery document naming them;
// nothing while no upstream tokens are configured.
func TestServedKeysAndDiscovery(t *testing.T) {
	ks, err := NewKeySet(writeKeys(t, t.TempDir(), jose.EdDSA, jose.ES256, jose.RS256))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := Publish("http://authz.test", "", ks)
	if err != nil {
		t.Fatal(err)
	}
	var current *Published
	srv := httptest.NewServer(Handler(func() *Published { return current }))
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, _ := get(JWKSPath); resp.StatusCode != 404 {
		t.Errorf("jwks without upstream tokens: %d", resp.StatusCode)
	}

	current = pub
	resp, body := get(JWKSPath)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("jwks: %d %v", resp.StatusCode, resp.Header)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("jwks content type %q", ct)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal(body, &raw)
	if len(raw.Keys) != 3 {
		t.Fatalf("%d keys served, want 3", len(raw.Keys))
	}
	for _, k := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("the served key %v has private member %s", k["kid"], private)
			}
		}
	}
	var set jose.JSONWebKeySet
	json.Unmarshal(body, &set)
	for i, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" {
			t.Errorf("key %d: public %v use %q", i, k.IsPublic(), k.Use)
		}
		if want := []string{"EdDSA", "ES256", "RS256"}[i]; k.Algorithm != want {
			t.Errorf("key %d alg %s, want %s", i, k.Algorithm, want)
		}
	}
	if ks.Active().ID != set.Keys[0].KeyID {
		t.Errorf("the active key %s is not the first served, %s", ks.Active().ID, set.Keys[0].KeyID)
	}
	resp, body = get(DiscoveryPath)
	var doc map[string]any
	json.Unmarshal(body, &doc)
	if resp.StatusCode != 200 || doc["issuer"] != "http://authz.test" || doc["jwks_uri"] != "http://authz.test/.well-known/jwks.json" {
		t.Fatalf("discovery: %d %s", resp.StatusCode, body)
	}
	if algs := fmt.Sprint(doc["id_token_signing_alg_values_supported"]); algs != "[EdDSA ES256 RS256]" {
		t.Errorf("discovery names algorithms %s, want the keys' EdDSA ES256 RS256", algs)
	}
	if resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Errorf("discovery headers %v", resp.Header)
	}
}

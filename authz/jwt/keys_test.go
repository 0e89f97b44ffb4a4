package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
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

// waitLoaded reports whether k loads a key set within a second, and the
// last fetch error.
func waitLoaded(k *Keys) (bool, error) {
	select {
	case <-k.Ready():
		return true, nil
	case <-time.After(time.Second):
		return false, k.lastError()
	}
}

func TestKeyFetchesStayWhereTheOperatorPointed(t *testing.T) {
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	jwks, _ := json.Marshal(idp.KeySet())

	t.Run("an https issuer's discovery may not name a plain-http jwks_uri", func(t *testing.T) {
		var srv *httptest.Server
		srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": idp.JWKSURL()})
		}))
		defer srv.Close()
		k, err := NewKeys(KeysOptions{Discovery: true, Issuer: srv.URL, Client: srv.Client(), Refresh: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		if ok, err := waitLoaded(k); ok || err == nil || !strings.Contains(err.Error(), "not https") {
			t.Errorf("loaded %v, err %v", ok, err)
		}
	})
	t.Run("an http issuer configured so on purpose keeps http", func(t *testing.T) {
		k, err := NewKeys(KeysOptions{Discovery: true, Issuer: idp.Issuer(), Refresh: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		if ok, err := waitLoaded(k); !ok {
			t.Errorf("not loaded: %v", err)
		}
	})
	t.Run("redirects are not followed", func(t *testing.T) {
		var served int
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++; w.Write(jwks) }))
		defer target.Close()
		redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/jwks.json", http.StatusFound))
		defer redirect.Close()
		k, err := NewKeys(KeysOptions{URL: redirect.URL + "/jwks.json", Refresh: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		if ok, err := waitLoaded(k); ok || err == nil || !strings.Contains(err.Error(), "status 302") {
			t.Errorf("loaded %v, err %v", ok, err)
		}
		if served != 0 {
			t.Errorf("the redirect target was asked %d times", served)
		}
	})
}

func TestUnknownKidRefreshesAtMostOncePerInterval(t *testing.T) {
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	k, err := NewKeys(KeysOptions{URL: idp.JWKSURL(), Refresh: time.Hour, MinRefresh: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if ok, err := waitLoaded(k); !ok {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond) // past the interval of the first fetch
	before := idp.JWKSFetches()
	for i := range 50 {
		if _, err := k.lookup(context.Background(), fmt.Sprintf("forged-%d", i)); !errors.Is(err, authz.ErrInvalidToken) {
			t.Fatalf("forged kid: %v, want invalid", err)
		}
	}
	if got := idp.JWKSFetches() - before; got != 1 {
		t.Errorf("50 unknown kids fetched the JWKS %d times, want 1", got)
	}
}

func TestKeysSurviveAnUnreachableJWKS(t *testing.T) {
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	k, err := NewKeys(KeysOptions{URL: idp.JWKSURL(), Refresh: time.Hour, MinRefresh: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if ok, err := waitLoaded(k); !ok {
		t.Fatal(err)
	}
	idp.SetDown(true)
	time.Sleep(5 * time.Millisecond)
	if keys, err := k.lookup(context.Background(), "rsa-1"); err != nil || len(keys) != 1 {
		t.Errorf("a known kid while the JWKS is down: %v", err)
	}
	// An unknown kid cannot be told from a rotated-in key while the JWKS
	// is down: unavailable, not invalid.
	if _, err := k.lookup(context.Background(), "new-kid"); !errors.Is(err, authz.ErrUnavailable) {
		t.Errorf("unknown kid while down: %v, want unavailable", err)
	}
}

func TestFallbackFileServesUntilTheURLAnswers(t *testing.T) {
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	file := filepath.Join(t.TempDir(), "jwks.json")
	b, _ := json.Marshal(idp.KeySet())
	os.WriteFile(file, b, 0o600)
	idp.SetDown(true)
	k, err := NewKeys(KeysOptions{URL: idp.JWKSURL(), File: file, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if ok, err := waitLoaded(k); !ok {
		t.Fatalf("the fallback file did not load: %v", err)
	}
	if keys, err := k.lookup(context.Background(), "ec-1"); err != nil || len(keys) != 1 {
		t.Errorf("ec-1 from the file: %v", err)
	}
	if _, err := NewKeys(KeysOptions{File: filepath.Join(t.TempDir(), "missing.json")}); err == nil {
		t.Error("a file-only key set that cannot be read must fail at once")
	}
}

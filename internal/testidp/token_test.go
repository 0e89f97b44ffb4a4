package testidp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The token endpoint speaks RFC 6749's client credentials grant: client
// authentication, grant and scope refused with §5.2's codes.
func TestTokenEndpoint(t *testing.T) {
	idp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	idp.AddClient(TokenClient{ID: "c1", Secret: "s1", Scopes: []string{"a", "b"}, Audience: "api", TTL: time.Minute})
	post := func(form url.Values, id, secret string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest("POST", idp.TokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body, resp.Header
	}
	code, body, h := post(url.Values{"grant_type": {"client_credentials"}, "scope": {"a"}}, "c1", "s1")
	if code != 200 || body["token_type"] != "Bearer" || body["scope"] != "a" || body["expires_in"] != float64(60) || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("grant: %d %v %v", code, body, h)
	}
	tok, _ := body["access_token"].(string)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("access_token %q is not a JWT", tok)
	}
	// Client authentication in the form works too (client_secret_post).
	if code, _, _ := post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"c1"}, "client_secret": {"s1"}}, "", ""); code != 200 {
		t.Errorf("client_secret_post: %d", code)
	}
	for name, c := range map[string]struct {
		form       url.Values
		id, secret string
		status     int
		code       string
	}{
		"wrong secret":    {url.Values{"grant_type": {"client_credentials"}}, "c1", "nope", 401, "invalid_client"},
		"unknown client":  {url.Values{"grant_type": {"client_credentials"}}, "c2", "s1", 401, "invalid_client"},
		"another grant":   {url.Values{"grant_type": {"password"}}, "c1", "s1", 400, "unsupported_grant_type"},
		"a scope not his": {url.Values{"grant_type": {"client_credentials"}, "scope": {"a admin"}}, "c1", "s1", 400, "invalid_scope"},
	} {
		if status, body, _ := post(c.form, c.id, c.secret); status != c.status || body["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", name, status, body, c.status, c.code)
		}
	}
}

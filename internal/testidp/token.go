package testidp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// TokenClient is a client the token endpoint issues access tokens to
// (the client credentials grant, RFC 6749 §4.4).
type TokenClient struct {
	ID, Secret string
	// Scopes the client may ask for; a request naming none gets them all.
	Scopes []string
	// Audience of the tokens it gets.
	Audience string
	TTL      time.Duration
}

// TokenURL is the token endpoint (discovery's token_endpoint).
func (idp *IdP) TokenURL() string { return idp.Server.URL + "/token" }

// AddClient registers a client for the token endpoint.
func (idp *IdP) AddClient(c TokenClient) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if idp.tokenClients == nil {
		idp.tokenClients = map[string]TokenClient{}
	}
	idp.tokenClients[c.ID] = c
}

// serveToken answers the client credentials grant as RFC 6749 §4.4 and §5
// say: a form POST, the client authenticated by HTTP Basic (§2.3.1,
// form-urlencoded id and secret) or in the form, a JSON answer that is
// never cached, and §5.2's error codes.
func (idp *IdP) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		tokenError(w, http.StatusBadRequest, "invalid_request", "a form-encoded POST")
		return
	}
	if r.PostForm.Get("grant_type") == "authorization_code" {
		// A public client's (RFC 6749 §2.1): authenticated by its PKCE
		// verifier, not a secret.
		idp.serveCodeGrant(w, r)
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: both were form-urlencoded before Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	idp.mu.Lock()
	c, known := idp.tokenClients[id]
	idp.mu.Unlock()
	if !known || secret != c.Secret {
		w.Header().Set("WWW-Authenticate", `Basic realm="testidp"`)
		tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	switch g := r.PostForm.Get("grant_type"); g {
	case "client_credentials":
	case GrantTokenExchange:
		idp.serveExchange(w, r, c)
		return
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q: this IdP issues client_credentials and token exchange only", g))
		return
	}
	scopes := c.Scopes
	if s := r.PostForm.Get("scope"); s != "" {
		scopes = strings.Fields(s)
		for _, sc := range scopes {
			if !slices.Contains(c.Scopes, sc) {
				tokenError(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("scope %q is not granted to %s", sc, c.ID))
				return
			}
		}
	}
	claims := idp.Claims(c.ID, c.TTL, strings.Join(scopes, " "), c.Audience)
	claims["client_id"] = c.ID
	tok, err := idp.Mint("rsa-1", claims)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(c.TTL.Seconds()), "scope": strings.Join(scopes, " "),
	})
}

func tokenError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

package testidp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// PublicClient is a client of the authorization code grant with PKCE
// (RFC 6749 §4.1, RFC 7636) that has no secret, as MCP clients are: the
// authorization endpoint approves it at once, for the scopes it may have.
type PublicClient struct {
	ID           string
	RedirectURIs []string
	Scopes       []string
	TTL          time.Duration
}

// grant is an authorization code waiting for its token request.
type grant struct {
	client, redirect, challenge, scope, resource string
	expires                                      time.Time
}

// AuthorizationURL is the authorization endpoint.
func (idp *IdP) AuthorizationURL() string { return idp.Server.URL + "/authorize" }

// AddPublicClient registers a public client of the code grant.
func (idp *IdP) AddPublicClient(c PublicClient) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if idp.publicClients == nil {
		idp.publicClients = map[string]PublicClient{}
		idp.grants = map[string]grant{}
	}
	idp.publicClients[c.ID] = c
}

// Authorizations lists the scope and resource of each authorization
// request, in order.
func (idp *IdP) Authorizations() [][2]string {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return slices.Clone(idp.authorizations)
}

// serveAuthorize approves at once, as a user who always consents would:
// a known client, its registered redirect URI, S256 PKCE, scopes it may
// have; the code remembers the scope and the resource indicator (RFC
// 8707 §2.1) for the token request.
func (idp *IdP) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	idp.mu.Lock()
	c, known := idp.publicClients[q.Get("client_id")]
	idp.mu.Unlock()
	redirect := q.Get("redirect_uri")
	if !known || !slices.Contains(c.RedirectURIs, redirect) {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		params.Set("state", q.Get("state"))
		http.Redirect(w, r, redirect+"?"+params.Encode(), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with S256 is required"}})
		return
	}
	scope := strings.Fields(q.Get("scope"))
	for _, s := range scope {
		if !slices.Contains(c.Scopes, s) {
			back(url.Values{"error": {"invalid_scope"}})
			return
		}
	}
	b := make([]byte, 18)
	rand.Read(b)
	code := base64.RawURLEncoding.EncodeToString(b)
	idp.mu.Lock()
	idp.grants[code] = grant{client: c.ID, redirect: redirect, challenge: q.Get("code_challenge"), scope: strings.Join(scope, " "),
		resource: q.Get("resource"), expires: time.Now().Add(time.Minute)}
	idp.authorizations = append(idp.authorizations, [2]string{strings.Join(scope, " "), q.Get("resource")})
	idp.mu.Unlock()
	back(url.Values{"code": {code}})
}

// serveCodeGrant is the token request of the code grant: the code once,
// for the client and redirect URI it was issued to, with the verifier
// whose S256 is the challenge, and the same resource if it names one;
// the access token is a JWT whose aud is the resource.
func (idp *IdP) serveCodeGrant(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	idp.mu.Lock()
	g, ok := idp.grants[f.Get("code")]
	delete(idp.grants, f.Get("code"))
	c := idp.publicClients[g.client]
	idp.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case !ok || time.Now().After(g.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown or used code")
		return
	case f.Get("client_id") != g.client || f.Get("redirect_uri") != g.redirect:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client or redirect_uri")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the challenge")
		return
	case f.Get("resource") != "" && f.Get("resource") != g.resource:
		tokenError(w, http.StatusBadRequest, "invalid_target", "resource differs from the authorization request's")
		return
	}
	claims := idp.Claims(g.client, c.TTL, g.scope)
	if g.resource != "" {
		claims["aud"] = g.resource
	}
	claims["client_id"] = g.client
	tok, err := idp.Mint("rsa-1", claims)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(c.TTL.Seconds()), "scope": g.scope})
}

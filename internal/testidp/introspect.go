package testidp

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ClientAuth is how callers of the introspection endpoint must authenticate.
type ClientAuth struct {
	// Method: client_secret_basic, client_secret_post or bearer.
	Method   string
	ClientID string
	// Secret is the client secret, or the bearer token for bearer.
	Secret string
}

// Answer overrides the introspection endpoint's reply, to play a broken IdP.
type Answer struct {
	Status      int
	ContentType string
	Body        string
}

// IntrospectionURL is the RFC 7662 endpoint.
func (idp *IdP) IntrospectionURL() string { return idp.Server.URL + "/introspect" }

// SetClient sets the client credentials the endpoint demands.
func (idp *IdP) SetClient(a ClientAuth) {
	idp.mu.Lock()
	idp.client = a
	idp.mu.Unlock()
}

// SetAnswer makes the endpoint reply with a instead of judging (nil restores).
func (idp *IdP) SetAnswer(a *Answer) {
	idp.mu.Lock()
	idp.answer = a
	idp.mu.Unlock()
}

// Introspections counts requests to the introspection endpoint.
func (idp *IdP) Introspections() int64 { return idp.introspections.Load() }

// ProtocolErrors lists what callers got wrong (method, content type, client
// authentication): a correct caller leaves it empty.
func (idp *IdP) ProtocolErrors() []string {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return append([]string(nil), idp.protocolErrors...)
}

// IssueOpaque returns a new opaque access token carrying claims.
func (idp *IdP) IssueOpaque(claims map[string]any) string {
	b := make([]byte, 24)
	rand.Read(b)
	tok := "op_" + base64.RawURLEncoding.EncodeToString(b)
	idp.register(tok, claims)
	return tok
}

// Revoke makes a token inactive from now on.
func (idp *IdP) Revoke(token string) {
	idp.mu.Lock()
	idp.revoked[token] = true
	idp.mu.Unlock()
}

func (idp *IdP) register(token string, claims map[string]any) {
	idp.mu.Lock()
	idp.issued[token] = maps.Clone(claims)
	idp.mu.Unlock()
}

func (idp *IdP) protocolError(w http.ResponseWriter, status int, code, msg string) {
	idp.mu.Lock()
	idp.protocolErrors = append(idp.protocolErrors, msg)
	idp.mu.Unlock()
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="testidp"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

// serveIntrospect speaks RFC 7662 §2: a form-encoded POST with client
// authentication, answered with a JSON object whose "active" says it all.
func (idp *IdP) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	idp.introspections.Add(1)

	if idp.isDown(w, r) {
		return
	}
	idp.mu.Lock()
	answer, client := idp.answer, idp.client
	idp.mu.Unlock()
	if answer != nil {
		if answer.ContentType != "" {
			w.Header().Set("Content-Type", answer.ContentType)
		}
		w.WriteHeader(answer.Status)
		w.Write([]byte(answer.Body))
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		idp.protocolError(w, http.StatusBadRequest, "invalid_request", "content type "+r.Header.Get("Content-Type"))
		return
	}
	accept := r.Header.Get("Accept")
	wantsSigned := strings.Contains(accept, SignedAnswerType)
	if !wantsSigned && !strings.Contains(accept, "application/json") {
		idp.protocolError(w, http.StatusBadRequest, "invalid_request", "accept "+r.Header.Get("Accept"))
		return
	}
	if err := r.ParseForm(); err != nil {
		idp.protocolError(w, http.StatusBadRequest, "invalid_request", "form: "+err.Error())
		return
	}
	if msg := checkClient(r, client); msg != "" {
		idp.protocolError(w, http.StatusUnauthorized, "invalid_client", msg)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		idp.protocolError(w, http.StatusBadRequest, "invalid_request", "no token")
		return
	}
	if h := r.PostForm.Get("token_type_hint"); h != "" && h != "access_token" {
		idp.protocolError(w, http.StatusBadRequest, "invalid_request", "token_type_hint "+h)
		return
	}
	idp.mu.Lock()
	claims, known := idp.issued[token]
	revoked := idp.revoked[token]
	answerKey := idp.answerKey
	idp.mu.Unlock()
	exp, _ := claims["exp"].(int64)
	out := map[string]any{"active": false}
	if known && !revoked && (exp == 0 || time.Now().Unix() < exp) {
		out = maps.Clone(claims)
		out["active"] = true
		if _, ok := out["token_type"]; !ok {
			out["token_type"] = "Bearer" // RFC 7662 §2.2, the RFC 6749 type
		}
	}
	if wantsSigned && answerKey != "" {
		idp.writeSigned(w, answerKey, client.ClientID, out)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// SignedAnswerType is RFC 9701's media type for a signed introspection answer.
const SignedAnswerType = "application/token-introspection+jwt"

// SignAnswers makes the endpoint answer callers that ask for
// application/token-introspection+jwt with a JWT signed by the key kid
// (RFC 9701); "" answers them in plain JSON, as an IdP without the
// feature does.
func (idp *IdP) SignAnswers(kid string) {
	idp.mu.Lock()
	idp.answerKey = kid
	idp.mu.Unlock()
}

// writeSigned answers as RFC 9701 §5 says: typ token-introspection+jwt;
// iss the IdP, aud the client that asked, iat; the RFC 7662 members, the
// inactive answer included, inside the token_introspection claim, and no
// sub or exp at the top, so the answer cannot pass for an access token.
func (idp *IdP) writeSigned(w http.ResponseWriter, kid, clientID string, answer map[string]any) {
	key, ok := idp.SigningKey(kid)
	if !ok {
		http.Error(w, "no key "+kid, http.StatusInternalServerError)
		return
	}
	jwt, err := SignTyped(key, "token-introspection+jwt", map[string]any{
		"iss": idp.Issuer(), "aud": clientID, "iat": time.Now().Unix(), "token_introspection": answer,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", SignedAnswerType)
	w.Write([]byte(jwt))
}

// checkClient returns what is wrong with the request's client
// authentication, or "".
func checkClient(r *http.Request, c ClientAuth) string {
	auth := r.Header.Get("Authorization")
	switch c.Method {
	case "", "client_secret_basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "no Basic credentials"
		}
		// RFC 6749 §2.3.1: both were form-urlencoded before Basic encoding.
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || id != c.ClientID || secret != c.Secret {
			return "bad Basic credentials"
		}
		if r.PostForm.Has("client_secret") {
			return "secret sent twice"
		}
	case "client_secret_post":
		if auth != "" {
			return "Authorization header with client_secret_post"
		}
		if r.PostForm.Get("client_id") != c.ClientID || r.PostForm.Get("client_secret") != c.Secret {
			return "bad client_id/client_secret in form"
		}
	case "bearer":
		if auth != "Bearer "+c.Secret {
			return "bad bearer token"
		}
	default:
		return "unknown method " + c.Method
	}
	return ""
}

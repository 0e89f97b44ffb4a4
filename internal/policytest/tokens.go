package policytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// introspect answers RFC 7662 requests with what the cases set.
func (r *Runner) introspect(w http.ResponseWriter, req *http.Request) {
	if err := req.ParseForm(); err != nil || req.Method != http.MethodPost {
		http.Error(w, "want a form POST", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	a, ok := r.answers[strings.TrimPrefix(req.URL.Path, "/")+"/"+req.PostForm.Get("token")]
	r.mu.Unlock()
	if !ok {
		a = map[string]any{"active": false}
	}
	if who, signs := r.signed[strings.TrimPrefix(req.URL.Path, "/")]; signs && strings.Contains(req.Header.Get("Accept"), "token-introspection+jwt") {
		if _, ok := a["exp"]; !ok && a["active"] == true {
			// A signed active answer must say when the token ends, as
			// an IdP's does; authz refuses one that does not.
			signed := make(map[string]any, len(a)+1)
			for k, v := range a {
				signed[k] = v
			}
			signed["exp"] = time.Now().Add(time.Hour).Unix()
			a = signed
		}
		jwt, err := r.sign(jose.ES256, "token-introspection+jwt", map[string]any{"iss": who[0], "aud": who[1], "iat": time.Now().Unix(), "token_introspection": a})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/token-introspection+jwt")
		w.Write([]byte(jwt))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a)
}

// token makes the case's token.
func (r *Runner) token(t *Token) (string, error) {
	switch {
	case t.Literal != "":
		return t.Literal, nil
	case t.APIKey != nil:
		key := apiKeyFor(t.APIKey)
		if _, ok := r.apiKeys[key]; !ok {
			return "", fmt.Errorf("the run was started without this case's api_key: start it with the cases (policytest.Start)")
		}
		return key, nil
	case t.Introspection != nil:
		endpoint := t.Introspection.Endpoint
		if endpoint == "" && len(r.cfg.Introspection) > 0 {
			endpoint = r.cfg.Introspection[0].Name
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.opaque++
		var b [12]byte
		rand.Read(b[:])
		tok := fmt.Sprintf("authz-test-%d-%s", r.opaque, hex.EncodeToString(b[:]))
		a := map[string]any{"active": true}
		r.bind(a, t)
		for k, v := range t.Introspection.Answer {
			a[k] = v
		}
		r.answers[endpoint+"/"+tok] = a
		return tok, nil
	}
	if len(r.cfg.Issuers) == 0 {
		return "", fmt.Errorf("claims need an issuer in the config")
	}
	is := r.cfg.Issuers[0]
	if t.Issuer != "" {
		found := false
		for _, c := range r.cfg.Issuers {
			if c.Name == t.Issuer {
				is, found = c, true
			}
		}
		if !found {
			return "", fmt.Errorf("no issuer named %q", t.Issuer)
		}
	}
	alg := jose.RS256
	for _, a := range is.Algorithms {
		if _, ok := r.keys[jose.SignatureAlgorithm(a)]; ok {
			alg = jose.SignatureAlgorithm(a)
			break
		}
	}
	// A jti of its own: two cases with the same claims are two tokens, not
	// one the first case put in the cache.
	var jti [8]byte
	rand.Read(jti[:])
	claims := map[string]any{"iss": is.Issuer, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "jti": hex.EncodeToString(jti[:])}
	if len(is.Audiences) > 0 {
		claims["aud"] = is.Audiences[0]
	}
	r.bind(claims, t)
	for k, v := range t.Claims {
		claims[k] = v
	}
	tok, err := r.sign(alg, "JWT", claims)
	if err != nil {
		return "", err
	}
	// Where a JWT is also introspected (hybrid revocation), every
	// endpoint knows it: active with its claims, unless revoked.
	answer := map[string]any{"active": !t.Revoked}
	if !t.Revoked {
		for k, v := range claims {
			answer[k] = v
		}
	}
	r.mu.Lock()
	for _, in := range r.cfg.Introspection {
		r.answers[in.Name+"/"+tok] = answer
	}
	r.mu.Unlock()
	return tok, nil
}

// bind names the run's DPoP key in claims' cnf when the case's token is
// DPoP-bound; the case's own claims, set after, may name another.
func (r *Runner) bind(claims map[string]any, t *Token) {
	if t.DPoP != nil {
		claims["cnf"] = map[string]any{"jkt": r.dpopJKT}
	}
}

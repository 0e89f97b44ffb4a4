package testidp

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The token exchange grant (RFC 8693): a client trades a token it was
// given (the subject token) for one for another audience.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
)

// ExchangePolicy is what the endpoint grants in exchange: the audiences
// and resources it issues tokens for (any other is invalid_target), and
// the issued tokens' lifetime (never past the subject token's exp).
type ExchangePolicy struct {
	Targets []string
	TTL     time.Duration
}

// SetExchange sets what token exchange grants; nil refuses the grant.
func (idp *IdP) SetExchange(p *ExchangePolicy) {
	idp.mu.Lock()
	idp.exchange = p
	idp.mu.Unlock()
}

// SetTokenAnswer makes the token endpoint reply with a to token exchange
// instead of judging (nil restores): a broken authorization server.
func (idp *IdP) SetTokenAnswer(a *Answer) {
	idp.mu.Lock()
	idp.tokenAnswer = a
	idp.mu.Unlock()
}

// Exchanges counts token exchange requests.
func (idp *IdP) Exchanges() int64 { return idp.exchanges.Load() }

// LastExchange is the form of the last token exchange request.
func (idp *IdP) LastExchange() map[string][]string {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return idp.lastExchange
}

// serveExchange answers RFC 8693 §2: the subject token must be one this
// IdP issued and still honours, of a type it names; every resource and
// audience asked for must be one the policy grants (§2.2.2
// invalid_target); the issued token carries the subject's sub, the
// targets as aud, the scope asked for (no more than the subject had) and
// act naming the client (§4.1), and the answer names its issued type.
func (idp *IdP) serveExchange(w http.ResponseWriter, r *http.Request, c TokenClient) {
	idp.exchanges.Add(1)
	if idp.isDown(w, r) {
		return
	}
	idp.mu.Lock()
	policy, answer := idp.exchange, idp.tokenAnswer
	idp.lastExchange = map[string][]string(r.PostForm)
	idp.mu.Unlock()
	if answer != nil {
		if answer.ContentType != "" {
			w.Header().Set("Content-Type", answer.ContentType)
		}
		w.WriteHeader(answer.Status)
		w.Write([]byte(answer.Body))
		return
	}
	if policy == nil {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "token exchange is not enabled")
		return
	}
	f := r.PostForm
	subject, subjectType := f.Get("subject_token"), f.Get("subject_token_type")
	if subject == "" || subjectType == "" || len(f["subject_token"]) > 1 {
		tokenError(w, http.StatusBadRequest, "invalid_request", "subject_token and subject_token_type are required, once")
		return
	}
	if subjectType != TokenTypeAccess && subjectType != TokenTypeJWT {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unsupported subject_token_type "+subjectType)
		return
	}
	if rt := f.Get("requested_token_type"); rt != "" && rt != TokenTypeAccess {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unsupported requested_token_type "+rt)
		return
	}
	claims, ok := idp.honoured(subject)
	if !ok {
		tokenError(w, http.StatusBadRequest, "invalid_request", "the subject token is not valid")
		return
	}
	targets := append(append([]string{}, f["resource"]...), f["audience"]...)
	for _, t := range targets {
		if !slices.Contains(policy.Targets, t) {
			tokenError(w, http.StatusBadRequest, "invalid_target", "this server issues no token for "+t)
			return
		}
	}
	held := strings.Fields(stringClaim(claims, "scope"))
	scope := strings.Fields(f.Get("scope"))
	for _, s := range scope {
		if !slices.Contains(held, s) {
			tokenError(w, http.StatusBadRequest, "invalid_scope", "the subject token does not hold "+s)
			return
		}
	}
	if len(scope) == 0 {
		scope = held
	}
	ttl := policy.TTL
	if exp, ok := claims["exp"].(float64); ok {
		ttl = min(ttl, time.Until(time.Unix(int64(exp), 0)))
	} else if exp, ok := claims["exp"].(int64); ok {
		ttl = min(ttl, time.Until(time.Unix(exp, 0)))
	}
	issued := idp.Claims(stringClaim(claims, "sub"), ttl, strings.Join(scope, " "))
	if len(targets) == 1 {
		issued["aud"] = targets[0]
	} else if len(targets) > 1 {
		issued["aud"] = targets
	}
	issued["act"] = map[string]any{"sub": c.ID}
	tok := idp.IssueOpaque(issued)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "issued_token_type": TokenTypeAccess, "token_type": "Bearer",
		"expires_in": int(ttl.Seconds()), "scope": strings.Join(scope, " "),
	})
}

// honoured returns the claims of a token this IdP issued and still
// honours: an opaque one it registered, or a JWT signed by one of its keys,
// unexpired and not revoked.
func (idp *IdP) honoured(token string) (map[string]any, bool) {
	idp.mu.Lock()
	claims, opaque := idp.issued[token]
	revoked := idp.revoked[token]
	idp.mu.Unlock()
	if revoked {
		return nil, false
	}
	if !opaque {
		sig, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.PS256})
		if err != nil {
			return nil, false
		}
		payload, err := sig.Verify(idp.KeySet())
		if err != nil {
			return nil, false
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			return nil, false
		}
	}
	exp, _ := claims["exp"].(float64)
	if e, ok := claims["exp"].(int64); ok {
		exp = float64(e)
	}
	if exp == 0 || time.Now().After(time.Unix(int64(exp), 0)) {
		return nil, false
	}
	return claims, true
}

func stringClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

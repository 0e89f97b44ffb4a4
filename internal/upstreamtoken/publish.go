package upstreamtoken

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Paths the HTTP listener serves the keys at.
const (
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// Published is what the HTTP listener serves of the running config: the
// public keys, and a discovery document naming them.
type Published struct {
	jwks, discovery []byte
}

// Publish prepares the documents for issuer's key set; jwksURI is where
// verifiers fetch the keys ("" means issuer + JWKSPath).
func Publish(issuer, jwksURI string, ks *KeySet) (*Published, error) {
	if jwksURI == "" {
		jwksURI = strings.TrimSuffix(issuer, "/") + JWKSPath
	}
	// The minimum a verifier's discovery client reads (OpenID Connect
	// Discovery 1.0 §3, RFC 8414 §2): authz issues no tokens to clients, so
	// it names no endpoints but the keys.
	doc, err := json.Marshal(map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              jwksURI,
		"id_token_signing_alg_values_supported": ks.Algorithms(),
		"response_types_supported":              []string{},
		"subject_types_supported":               []string{"public"},
	})
	if err != nil {
		return nil, err
	}
	return &Published{jwks: ks.JWKS(), discovery: doc}, nil
}

// maxAge is how long verifiers may keep the documents: short enough that a
// key added for rotation reaches them well before it signs (the rotation
// runbook waits longer than this).
const maxAge = "public, max-age=300"

// Handler serves the documents of whatever config runs when asked:
// current returns nil while no upstream tokens are configured (404).
func Handler(current func() *Published) http.Handler {
	mux := http.NewServeMux()
	serve := func(pick func(*Published) []byte, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			p := current()
			if p == nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", maxAge)
			w.Write(pick(p))
		}
	}
	mux.HandleFunc("GET "+JWKSPath, serve(func(p *Published) []byte { return p.jwks }, "application/jwk-set+json"))
	mux.HandleFunc("GET "+DiscoveryPath, serve(func(p *Published) []byte { return p.discovery }, "application/json"))
	return mux
}

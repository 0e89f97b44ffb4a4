// Package testidp is a small OAuth 2.0 identity provider for tests and the
// demo: it signs JWT access tokens and serves its JWKS and OIDC discovery
// document over real HTTP.
package testidp

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// Key is a signing key the IdP holds.
type Key struct {
	ID        string
	Algorithm jose.SignatureAlgorithm
	Private   any
}

// IdP serves /jwks.json and /.well-known/openid-configuration.
type IdP struct {
	Server *httptest.Server

	mu       sync.Mutex
	keys     []Key // published and usable for signing
	down     bool
	delay    time.Duration
	held     chan struct{} // closed to release held requests; nil: none held
	jwksHits atomic.Int64

	client         ClientAuth
	answer         *Answer
	issued         map[string]map[string]any
	revoked        map[string]bool
	protocolErrors []string
	introspections atomic.Int64
	tokenClients   map[string]TokenClient
	// Token exchange (exchange.go).
	exchange     *ExchangePolicy
	tokenAnswer  *Answer
	exchanges    atomic.Int64
	lastExchange map[string][]string
	// The code grant (authorize.go).
	publicClients  map[string]PublicClient
	grants         map[string]grant
	authorizations [][2]string
	// answerKey signs introspection answers for callers that ask for
	// them signed (RFC 9701); "" answers those callers in plain JSON.
	answerKey string
}

// New starts an IdP on a loopback port with an RSA key "rsa-1" (RS256) and
// an EC key "ec-1" (ES256). Introspection callers must authenticate as
// client "authz" with secret "s3cret" (client_secret_basic) unless SetClient
// says otherwise.
func New() (*IdP, error) { return start(false, "") }

// NewAt is New listening on addr (host:port), so its URLs are known
// before it starts: the demo's config names the same IdP on every run.
func NewAt(addr string) (*IdP, error) { return start(false, addr) }

// NewTLS is New over HTTPS with a certificate of its own (Server.Certificate()).
func NewTLS() (*IdP, error) { return start(true, "") }

func start(useTLS bool, addr string) (*IdP, error) {
	idp := &IdP{
		client:  ClientAuth{Method: "client_secret_basic", ClientID: "authz", Secret: "s3cret"},
		issued:  map[string]map[string]any{},
		revoked: map[string]bool{},
	}
	for _, k := range []struct {
		id  string
		alg jose.SignatureAlgorithm
	}{{"rsa-1", jose.RS256}, {"ec-1", jose.ES256}} {
		key, err := NewKey(k.id, k.alg)
		if err != nil {
			return nil, err
		}
		idp.keys = append(idp.keys, key)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", idp.serveJWKS)
	mux.HandleFunc("GET /.well-known/openid-configuration", idp.serveDiscovery)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", idp.serveDiscovery)
	mux.HandleFunc("GET /authorize", idp.serveAuthorize)
	mux.HandleFunc("POST /introspect", idp.serveIntrospect)
	mux.HandleFunc("POST /token", idp.serveToken)
	switch {
	case useTLS:
		idp.Server = httptest.NewTLSServer(mux)
	case addr != "":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("testidp: listen %s: %w", addr, err)
		}
		idp.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
		idp.Server.Start()
	default:
		idp.Server = httptest.NewServer(mux)
	}
	return idp, nil
}

// Ed25519 is RFC 9864's fully-specified EdDSA over Ed25519, which go-jose
// does not name: tokens are signed through an opaque signer.
const Ed25519 jose.SignatureAlgorithm = "Ed25519"

// NewKey generates a key for alg (RS*, PS*, ES*, EdDSA, Ed25519).
func NewKey(id string, alg jose.SignatureAlgorithm) (Key, error) {
	var priv any
	var err error
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case jose.EdDSA, Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return Key{}, fmt.Errorf("testidp: unsupported algorithm %s", alg)
	}
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, Algorithm: alg, Private: priv}, nil
}

// Issuer is the IdP's issuer identifier (its base URL).
func (idp *IdP) Issuer() string { return idp.Server.URL }

// JWKSURL is where the key set is served.
func (idp *IdP) JWKSURL() string { return idp.Server.URL + "/jwks.json" }

// Close stops the server.
func (idp *IdP) Close() { idp.Server.Close() }

// SetDown makes the IdP answer 503 to everything (true) or recover (false).
func (idp *IdP) SetDown(down bool) {
	idp.mu.Lock()
	idp.down = down
	idp.mu.Unlock()
}

// SetDelay makes every answer wait d first (a slow IdP).
func (idp *IdP) SetDelay(d time.Duration) {
	idp.mu.Lock()
	idp.delay = d
	idp.mu.Unlock()
}

// AddKey publishes a new key (rotation).
func (idp *IdP) AddKey(k Key) {
	idp.mu.Lock()
	idp.keys = append(idp.keys, k)
	idp.mu.Unlock()
}

// AddKeyPerAlgorithm generates and publishes one key of each algorithm,
// with kid "k-" and the algorithm's name.
func (idp *IdP) AddKeyPerAlgorithm(algs []jose.SignatureAlgorithm) (map[jose.SignatureAlgorithm]Key, error) {
	keys := make(map[jose.SignatureAlgorithm]Key, len(algs))
	for _, alg := range algs {
		key, err := NewKey("k-"+string(alg), alg)
		if err != nil {
			return nil, err
		}
		idp.AddKey(key)
		keys[alg] = key
	}
	return keys, nil
}

// JWKSFetches counts JWKS requests served.
func (idp *IdP) JWKSFetches() int64 { return idp.jwksHits.Load() }

// KeySet returns the public JWKS document.
func (idp *IdP) KeySet() jose.JSONWebKeySet {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range idp.keys {
		jwk := jose.JSONWebKey{Key: k.Private, KeyID: k.ID, Algorithm: string(k.Algorithm), Use: "sig"}
		set.Keys = append(set.Keys, jwk.Public())
	}
	return set
}

// Hold makes every request wait, after its delay, until release is called:
// a test decides when an answer comes, instead of guessing with a delay.
func (idp *IdP) Hold() (release func()) {
	ch := make(chan struct{})
	idp.mu.Lock()
	idp.held = ch
	idp.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			idp.mu.Lock()
			idp.held = nil
			idp.mu.Unlock()
			close(ch)
		})
	}
}

func (idp *IdP) isDown(w http.ResponseWriter, r *http.Request) bool {
	idp.mu.Lock()
	down, delay, held := idp.down, idp.delay, idp.held
	idp.mu.Unlock()
	select {
	case <-time.After(delay):
	case <-r.Context().Done(): // the caller gave up and closed the connection
		return true
	}
	if held != nil {
		select {
		case <-held:
		case <-r.Context().Done():
			return true
		}
	}
	if down {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}
	return down
}

func (idp *IdP) serveJWKS(w http.ResponseWriter, r *http.Request) {
	idp.jwksHits.Add(1)
	if idp.isDown(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(idp.KeySet())
}

func (idp *IdP) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if idp.isDown(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                idp.Issuer(),
		"jwks_uri":                              idp.JWKSURL(),
		"token_endpoint":                        idp.TokenURL(),
		"authorization_endpoint":                idp.AuthorizationURL(),
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"grant_types_supported":                 []string{"client_credentials", "authorization_code", GrantTokenExchange},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
	})
}

// Claims returns typical access-token claims for sub, valid for ttl.
func (idp *IdP) Claims(sub string, ttl time.Duration, scope string, aud ...string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":       idp.Issuer(),
		"sub":       sub,
		"client_id": "demo-client",
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"jti":       fmt.Sprintf("%d", now.UnixNano()),
	}
	if scope != "" {
		c["scope"] = scope
	}
	if len(aud) == 1 {
		c["aud"] = aud[0]
	} else if len(aud) > 1 {
		c["aud"] = aud
	}
	return c
}

// Mint signs claims with the key kid ("" = the first key), as typ at+jwt.
func (idp *IdP) Mint(kid string, claims map[string]any) (string, error) {
	idp.mu.Lock()
	var key *Key
	for i := range idp.keys {
		if kid == "" || idp.keys[i].ID == kid {
			key = &idp.keys[i]
			break
		}
	}
	idp.mu.Unlock()
	if key == nil {
		return "", fmt.Errorf("testidp: no key %q", kid)
	}
	tok, err := Sign(*key, claims)
	if err == nil {
		idp.register(tok, claims) // so introspection knows it
	}
	return tok, err
}

// SigningKey returns the published key kid.
func (idp *IdP) SigningKey(kid string) (Key, bool) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	for _, k := range idp.keys {
		if k.ID == kid {
			return k, true
		}
	}
	return Key{}, false
}

// Sign signs claims with any key, published or not, as typ at+jwt (RFC 9068).
func Sign(key Key, claims map[string]any) (string, error) {
	return SignTyped(key, "at+jwt", claims)
}

// SignTyped signs claims with the JOSE header typ set to typ.
func SignTyped(key Key, typ string, claims map[string]any) (string, error) {
	return SignWithHeaders(key, claims, map[string]any{"typ": typ})
}

// SignWithHeaders signs claims with key's kid and the extra protected
// headers given (crit, jwk, … for tests of what a verifier refuses).
func SignWithHeaders(key Key, claims, headers map[string]any) (string, error) {
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), key.ID)
	for k, v := range headers {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	sk := jose.SigningKey{Algorithm: key.Algorithm, Key: key.Private}
	if key.Algorithm == Ed25519 {
		sk.Key = ed25519Signer{key.Private.(ed25519.PrivateKey)}
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		return "", err
	}
	return josejwt.Signed(signer).Claims(claims).Serialize()
}

// ed25519Signer signs as alg Ed25519 (RFC 9864) for go-jose, by the
// standard library.
type ed25519Signer struct{ priv ed25519.PrivateKey }

func (s ed25519Signer) Public() *jose.JSONWebKey { return &jose.JSONWebKey{Key: s.priv.Public()} }

func (s ed25519Signer) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{Ed25519} }

func (s ed25519Signer) SignPayload(payload []byte, _ jose.SignatureAlgorithm) ([]byte, error) {
	return ed25519.Sign(s.priv, payload), nil
}

// WriteKeyFile writes a new private key for alg to a file of its own in
// dir — PKCS #8 PEM, readable by its owner only, as authz's own signing
// keys are kept — and returns its path.
func WriteKeyFile(dir string, alg jose.SignatureAlgorithm) (string, error) {
	k, err := NewKey("", alg)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, strings.ToLower(string(alg))+"-*.pem") // mode 0600
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

package policytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/dpopproof"
	"github.com/authz-dev/authz/internal/envoy"
	"github.com/authz-dev/authz/internal/keyfile"
	"github.com/authz-dev/authz/internal/server"
)

// Runner is a config's server on loopback, with the run's own key as
// every issuer's and an answering machine as every introspection endpoint.
type Runner struct {
	cfg     *config.Config
	keys    map[jose.SignatureAlgorithm]jose.JSONWebKey // private
	stub    *http.Server                                // the introspection endpoints
	stubURL string
	srv     *server.Server
	conn    *grpc.ClientConn
	client  authv3.AuthorizationClient
	cancel  context.CancelFunc
	done    chan error
	dir     string

	// upstream is the public half of the key the run signs upstream
	// tokens with, in place of upstream_tokens.key_files.
	upstream jose.JSONWebKey

	// signed: endpoints that answer signed (RFC 9701), with the iss and
	// aud their answers carry.
	signed map[string][2]string

	// dpop signs the proofs of the key dpop tokens are bound to (its
	// thumbprint dpopJKT); otherDPoP those of a key no token names.
	dpop, otherDPoP *dpopproof.Signer
	dpopJKT         string

	mu      sync.Mutex
	answers map[string]map[string]any // endpoint/token → answer
	opaque  int
}

// Start runs cfg (as loaded by config.Load or LoadOffline) for tests.
func Start(cfg *config.Config) (*Runner, error) {
	r := &Runner{cfg: cfg, keys: map[jose.SignatureAlgorithm]jose.JSONWebKey{}, answers: map[string]map[string]any{}, signed: map[string][2]string{}}
	dir, err := os.MkdirTemp("", "authz-test-")
	if err != nil {
		return nil, err
	}
	r.dir = dir
	if err := r.makeKeys(); err != nil {
		r.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Close()
		return nil, err
	}
	r.stub, r.stubURL = &http.Server{Handler: http.HandlerFunc(r.introspect), ReadHeaderTimeout: 10 * time.Second}, "http://"+ln.Addr().String()
	go r.stub.Serve(ln)
	// Listeners on loopback, nothing shared, nothing exported: the run
	// judges only what the config's policies and routes say.
	cfg.GRPC = config.GRPC{Addr: "127.0.0.1:0"}
	cfg.HTTP = config.HTTP{Addr: "127.0.0.1:0", Proxy: cfg.HTTP.Proxy, PolicyFrom: cfg.HTTP.PolicyFrom}
	cfg.Admin = config.Admin{}
	cfg.Cache.Redis = config.Redis{}
	cfg.Tracing = config.Tracing{}
	cfg.Log = config.Log{Level: "error"}
	for i := range cfg.Issuers {
		is := &cfg.Issuers[i]
		is.JWKSURL, is.Discovery, is.JWKSFile = "", false, filepath.Join(dir, "jwks.json")
	}
	for i := range cfg.Introspection {
		in := &cfg.Introspection[i]
		in.Endpoint = r.stubURL + "/" + in.Name
		in.ClientSecret, in.ClientSecretFile = "authz-test", ""
		in.CAFile, in.CertFile, in.KeyFile = "", "", ""
		if in.SignedAnswers {
			// Signed (RFC 9701) with the run's ES256 key, which the
			// endpoint's key source becomes.
			in.JWKSURL, in.Discovery, in.JWKSFile, in.Algorithms = "", false, filepath.Join(dir, "jwks.json"), []string{"ES256"}
			r.signed[in.Name] = [2]string{in.Issuer, in.ClientID}
		}
	}
	if cfg.DPoP.RequireNonce {
		// Nonces signed with a key of the run's: the config's key file
		// may not be at hand, and a case judges proofs, not the key.
		if cfg.DPoP.NonceKeyFile, err = r.makeNonceKey(); err != nil {
			r.Close()
			return nil, err
		}
	}
	if cfg.UpstreamTokens.Enabled() {
		if cfg.UpstreamTokens.KeyFiles, err = r.makeUpstreamKey(); err != nil {
			r.Close()
			return nil, err
		}
	}
	on := true
	for name, p := range cfg.Policies {
		p.DynamicMetadata = &on // the decision's route, policy and rule come back with it
		cfg.Policies[name] = p
	}
	if err := config.Complete(cfg); err != nil {
		r.Close()
		return nil, err
	}
	r.srv, err = server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		r.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.srv.Run(ctx) }()
	r.conn, err = grpc.NewClient(r.srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		r.Close()
		return nil, err
	}
	r.client = authv3.NewAuthorizationClient(r.conn)
	if err := r.waitServing(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Runner) waitServing() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := healthpb.NewHealthClient(r.conn).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the config's server did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops the server and removes the run's files.
func (r *Runner) Close() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	if r.conn != nil {
		r.conn.Close()
	}
	if r.stub != nil {
		r.stub.Close()
	}
	os.RemoveAll(r.dir)
}

// makeKeys makes one key per algorithm family and publishes the public
// halves as the JWKS file every issuer reads.
func (r *Runner) makeKeys() error {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := r.makeDPoPKeys(); err != nil {
		return err
	}
	var set jose.JSONWebKeySet
	for alg, priv := range map[jose.SignatureAlgorithm]any{jose.RS256: rsaKey, jose.ES256: ecKey, jose.EdDSA: edKey} {
		k := jose.JSONWebKey{Key: priv, KeyID: "authz-test-" + strings.ToLower(string(alg)), Algorithm: string(alg), Use: "sig"}
		r.keys[alg] = k
		set.Keys = append(set.Keys, k.Public())
	}
	b, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.dir, "jwks.json"), b, 0o600)
}

// makeNonceKey writes the key the run's server signs DPoP nonces with.
func (r *Runner) makeNonceKey() (string, error) {
	var key [32]byte
	rand.Read(key[:])
	path := filepath.Join(r.dir, "dpop-nonce.key")
	return path, os.WriteFile(path, []byte(hex.EncodeToString(key[:])), 0o600)
}

// makeDPoPKeys makes the client keys of the cases' DPoP proofs.
func (r *Runner) makeDPoPKeys() error {
	var keys [2]*ecdsa.PrivateKey
	for i := range keys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	var err error
	if r.dpop, err = dpopproof.NewSigner(keys[0], jose.ES256); err != nil {
		return err
	}
	if r.otherDPoP, err = dpopproof.NewSigner(keys[1], jose.ES256); err != nil {
		return err
	}
	r.dpopJKT, err = dpopproof.Thumbprint(keys[0].Public())
	return err
}

// sign signs claims with the run's key for alg.
func (r *Runner) sign(alg jose.SignatureAlgorithm, typ string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: r.keys[alg]}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// makeUpstreamKey makes the key the run's server signs upstream tokens
// with: the config's key files may not be at hand (CI), and a case checks
// the claims of a token, not whose key signed it.
func (r *Runner) makeUpstreamKey() ([]string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(r.dir, "upstream.pem")
	if err := keyfile.Write(path, key); err != nil {
		return nil, err
	}
	r.upstream = jose.JSONWebKey{Key: key.Public()}
	return []string{path}, nil
}

// upstreamClaims are the claims of the token in header value v ("Bearer "
// or bare) that authz signed with the run's upstream key, or that a
// signed-answers endpoint of the run signed; nil when v holds neither.
func (r *Runner) upstreamClaims(v string) map[string]any {
	v = strings.TrimPrefix(v, "Bearer ")
	sig, err := jose.ParseSignedCompact(v, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil
	}
	var payload []byte
	answers := r.keys[jose.ES256]
	for _, key := range []jose.JSONWebKey{r.upstream, answers.Public()} {
		if key.Key == nil {
			continue
		}
		if payload, err = sig.Verify(key); err == nil {
			break
		}
	}
	if payload == nil {
		return nil
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return nil
	}
	return claims
}

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

// Result is what came of a case.
type Result struct {
	Outcome, Route, Policy, Rule string
	Status                       int
	Headers                      map[string]string
	Removed                      []string
	// Tokens are the claims of the upstream tokens authz signed, by the
	// header the case expects one in (nil: none there).
	Tokens map[string]map[string]any
}

// Check runs one case's request through the server.
func (r *Runner) Check(c Case) (Result, error) {
	method, host, path := orDefault(c.Request.Method, "GET"), orDefault(c.Request.Host, "example.test"), orDefault(c.Request.Path, "/")
	h := map[string]string{":method": method, ":authority": host, ":path": path, ":scheme": "https"}
	for k, v := range c.Request.Headers {
		h[strings.ToLower(k)] = v
	}
	var tok string
	if c.Token != nil {
		var err error
		if tok, err = r.token(c.Token); err != nil {
			return Result{}, err
		}
		scheme := "Bearer"
		if c.Token.DPoP != nil {
			scheme = "DPoP"
		}
		h["authorization"] = orDefault(c.Token.Scheme, scheme) + " " + tok
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		// Envoy sends the certificate URL-encoded (source.certificate).
		Source:      &authv3.AttributeContext_Peer{Principal: c.Request.SourcePrincipal, Certificate: url.QueryEscape(c.Request.PeerCertificate)},
		Destination: &authv3.AttributeContext_Peer{Principal: c.Request.DestinationPrincipal},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Host: host, Path: path, Scheme: "https", Protocol: "HTTP/1.1", Headers: h,
		}},
	}}
	if c.Request.Policy != "" {
		req.Attributes.ContextExtensions = map[string]string{"policy": c.Request.Policy}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp *authv3.CheckResponse
	var err error
	if c.Token != nil && c.Token.DPoP != nil {
		resp, err = r.checkWithProof(ctx, req, orDefault(c.Token.DPoP.Proof, "valid"), tok)
	} else {
		resp, err = r.client.Check(ctx, req)
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Headers: map[string]string{}}
	var hs []*corev3.HeaderValueOption
	if ok := resp.GetOkResponse(); ok != nil {
		res.Status, hs, res.Removed = http.StatusOK, ok.GetHeaders(), ok.GetHeadersToRemove()
	} else {
		d := resp.GetDeniedResponse()
		res.Status, hs = int(d.GetStatus().GetCode()), d.GetHeaders()
	}
	for _, hv := range hs {
		res.Headers[hv.GetHeader().GetKey()] = hv.GetHeader().GetValue()
	}
	res.Outcome = res.Headers["x-authz-outcome"]
	for name := range c.Expect.Tokens {
		if res.Tokens == nil {
			res.Tokens = map[string]map[string]any{}
		}
		name = strings.ToLower(name)
		res.Tokens[name] = r.upstreamClaims(res.Headers[name])
	}
	if dec := resp.GetDynamicMetadata().GetFields()[envoy.DecisionKey].GetStructValue().GetFields(); dec != nil {
		res.Route, res.Policy, res.Rule = dec["route"].GetStringValue(), dec["policy"].GetStringValue(), dec["rule"].GetStringValue()
	}
	return res, nil
}

// checkWithProof sends req with the DPoP proof the case names, as a
// client would: asked for a nonce (use_dpop_nonce), it signs again with
// it; a replayed proof is one the server has already seen.
func (r *Runner) checkWithProof(ctx context.Context, req *authv3.CheckRequest, kind, token string) (*authv3.CheckResponse, error) {
	target := req.Attributes.Request.Http
	if kind == "none" {
		return r.client.Check(ctx, req)
	}
	signer, pr := r.dpop, dpopproof.Request{Method: target.Method, URL: dpopproof.TargetURL(target.Scheme, target.Host, target.Path), Token: token}
	switch kind {
	case "other_key":
		signer = r.otherDPoP
	case "wrong_method":
		pr.Method = "POST"
		if target.Method == "POST" {
			pr.Method = "GET"
		}
	case "wrong_url":
		pr.URL = dpopproof.TargetURL(target.Scheme, "elsewhere.test", target.Path)
	case "stale":
		pr.IssuedAt = time.Now().Add(-10 * time.Minute)
	}
	send := func() (*authv3.CheckResponse, error) {
		proof, err := signer.Sign(pr)
		if err != nil {
			return nil, err
		}
		target.Headers["dpop"] = proof
		return r.client.Check(ctx, req)
	}
	resp, err := send()
	if err != nil {
		return nil, err
	}
	if nonce := deniedHeader(resp, "dpop-nonce"); nonce != "" {
		pr.Nonce = nonce
		if resp, err = send(); err != nil {
			return nil, err
		}
	}
	if kind == "replayed" {
		return r.client.Check(ctx, req) // the same proof again
	}
	return resp, nil
}

func deniedHeader(resp *authv3.CheckResponse, name string) string {
	for _, hv := range resp.GetDeniedResponse().GetHeaders() {
		if strings.EqualFold(hv.GetHeader().GetKey(), name) {
			return hv.GetHeader().GetValue()
		}
	}
	return ""
}

// Differences says how res falls short of what the case expects; none:
// the case passes.
func Differences(c Case, res Result) []string {
	want := c.Expect
	var out []string
	if want.Outcome != res.Outcome {
		out = append(out, fmt.Sprintf("outcome %s, want %s", orDefault(res.Outcome, "(none)"), want.Outcome))
	}
	if want.Status != 0 && want.Status != res.Status {
		out = append(out, fmt.Sprintf("status %d, want %d", res.Status, want.Status))
	}
	for _, f := range []struct {
		name string
		want *string
		got  string
	}{{"route", want.Route, res.Route}, {"policy", want.Policy, res.Policy}, {"rule", want.Rule, res.Rule}} {
		if f.want != nil && *f.want != f.got {
			out = append(out, fmt.Sprintf("%s %q, want %q", f.name, f.got, *f.want))
		}
	}
	for k, v := range want.Headers {
		if got, ok := res.Headers[strings.ToLower(k)]; !ok || got != v {
			out = append(out, fmt.Sprintf("header %s %q, want %q", k, got, v))
		}
	}
	for name, claims := range want.Tokens {
		got := res.Tokens[strings.ToLower(name)]
		if got == nil {
			out = append(out, fmt.Sprintf("header %s carries no upstream token authz signed", name))
			continue
		}
		for k, v := range claims {
			if w, g := jsonText(v), jsonText(got[k]); w != g {
				out = append(out, fmt.Sprintf("upstream token in %s: claim %s %s, want %s", name, k, g, w))
			}
		}
	}
	for _, k := range want.Absent {
		k = strings.ToLower(k)
		if got, ok := res.Headers[k]; ok {
			out = append(out, fmt.Sprintf("header %s %q reaches the upstream, want it absent", k, got))
			continue
		}
		// On an allow, what the client sent goes on unless removed.
		if sent, ok := sentHeader(c.Request.Headers, k); ok && res.Outcome == "allow" && !slices.Contains(res.Removed, k) {
			out = append(out, fmt.Sprintf("header %s %q (the client's) reaches the upstream, want it absent", k, sent))
		}
	}
	return out
}

// jsonText compares a value written in YAML with one read from JSON.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sentHeader(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

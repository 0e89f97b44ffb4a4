package jwt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/jws"
)

// Algorithms are the signature algorithms an issuer may allow: asymmetric
// only, so a public key can never be used as an HMAC secret (RFC 8725 §2.1).
var Algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA, jws.Ed25519,
}

// DefaultAlgorithms are allowed when an issuer names none: what IdPs sign
// access tokens with by default.
var DefaultAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// IssuerOptions configure one trusted issuer.
type IssuerOptions struct {
	// Name identifies the issuer in config, policies and logs.
	Name string
	// Issuer is the exact "iss" value, or a template naming {tenant} as
	// one path segment (tenants.go): one IdP's many tenants, one keys.
	Issuer string
	// Tenants a templated issuer admits ("*": any).
	Tenants []string
	// Kubernetes: the issuer is a cluster's service-account issuer; its
	// tokens must name a namespace and service account, which results
	// carry under plain names too (kubernetes.go).
	Kubernetes bool
	// Audiences: the token's "aud" must name one of them (none = not checked).
	Audiences []string
	// Algorithms allowed for this issuer; a subset of Algorithms
	// (default DefaultAlgorithms).
	Algorithms []jose.SignatureAlgorithm
	// Leeway for exp, nbf and iat.
	Leeway time.Duration
	// RequireType, when set, must equal the JOSE "typ" header (e.g. "at+jwt", RFC 9068 §4).
	RequireType string
	Keys        *Keys
	// OnVerify, when set, is told of every signature verification (the
	// expensive step a cache spares).
	OnVerify func()
	// Introspect, when set, is asked about every token that passes the
	// offline checks, so a JWT revoked at the IdP is refused within the
	// cache TTL ("global logout"). Its failures are the token's failures.
	Introspect authz.Validator
}

// Issuer validates tokens of one issuer.
type Issuer struct {
	opts IssuerOptions
	now  func() time.Time
	tmpl *template // nil: an exact iss
}

// NewIssuer checks opts and returns an Issuer.
func NewIssuer(opts IssuerOptions) (*Issuer, error) {
	if opts.Issuer == "" {
		return nil, fmt.Errorf("issuer %s: empty issuer", opts.Name)
	}
	if opts.Keys == nil {
		return nil, fmt.Errorf("issuer %s: no keys", opts.Name)
	}
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = DefaultAlgorithms
	}
	for _, a := range opts.Algorithms {
		if !slices.Contains(Algorithms, a) {
			return nil, fmt.Errorf("issuer %s: algorithm %q not allowed", opts.Name, a)
		}
	}
	i := &Issuer{opts: opts, now: time.Now}
	if strings.Contains(opts.Issuer, TenantPlaceholder) {
		t, err := parseTemplate(opts.Issuer, opts.Tenants)
		if err != nil {
			return nil, fmt.Errorf("issuer %s: %w", opts.Name, err)
		}
		i.tmpl = t
	}
	return i, nil
}

func (i *Issuer) validate(ctx context.Context, raw string, tok *jws.Compact, claims map[string]any, tenant string) (*authz.Result, error) {
	h := tok.Header
	// The verifier picks the algorithm; the token only names it (RFC 8725 §3.1).
	if !slices.Contains(i.opts.Algorithms, h.Alg) {
		return nil, invalid(fmt.Sprintf("algorithm %q not allowed for issuer %s", h.Alg, i.opts.Name))
	}
	if want := i.opts.RequireType; want != "" {
		typ := strings.TrimPrefix(strings.ToLower(h.Type), "application/")
		if typ != strings.ToLower(want) {
			return nil, invalid(fmt.Sprintf("typ %q, want %q", typ, want))
		}
	}
	// The claims were decoded from this very payload before routing;
	// they count only once the signature over it verifies.
	ok, err := i.opts.Keys.verify(ctx, tok, i.opts.OnVerify)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("signature does not verify with any key of issuer " + i.opts.Name)
	}
	iss := i.opts.Issuer
	if i.tmpl != nil {
		iss = i.tmpl.prefix + tenant + i.tmpl.suffix
		// A tenant's token names its tenant twice where the IdP writes
		// tid (Entra ID): they must agree.
		if tid, ok := claims["tid"].(string); ok && tid != tenant {
			return nil, invalid(fmt.Sprintf("tid %q is not the tenant its iss names", truncate(tid, 64)))
		}
	}
	exp, err := checkClaims(claims, iss, i.opts.Audiences, i.now(), i.opts.Leeway)
	if err != nil {
		return nil, err
	}
	if i.tmpl != nil {
		claims[TenantClaim] = tenant
	}
	if i.opts.Kubernetes && !flattenKubernetes(claims) {
		return nil, invalid("not a service-account token: no kubernetes.io namespace and service account")
	}
	res := &authz.Result{
		Validator: i.opts.Name,
		Claims:    claims,
		// Leeway is granted past exp too: a token accepted within it must
		// also be served, and cached no longer than exp + leeway.
		Expiry: exp.Add(i.opts.Leeway),
		Size:   authz.ClaimsSize(claims),
	}
	if i.opts.Introspect != nil {
		live, err := i.opts.Introspect.Validate(ctx, raw)
		if err != nil {
			return nil, err
		}
		if m := answerMismatch(claims, live.Claims); m != "" {
			// An answer about another token — a replayed or misrouted
			// one — says nothing about this one: broken, never an allow.
			return nil, fmt.Errorf("%w: introspection answer's %s is not the token's", authz.ErrUnavailable, m)
		}
		res.Live = true
		// The IdP's signed answer, when it gave one, may be forwarded.
		res.Signed = live.Signed
		res.Size += len(live.Signed)
		// The signed claims stay authoritative; the IdP may only shorten
		// the token's life.
		if !live.Expiry.IsZero() && live.Expiry.Before(res.Expiry) {
			res.Expiry = live.Expiry
		}
	}
	return res, nil
}

// Set validates JWTs of several issuers, routing each token by its "iss" to
// that issuer's keys only.
type Set struct {
	byIssuer   map[string]*Issuer
	byTemplate map[string]*Issuer // templated issuers, by iss with {tenant}
	parser     *jws.Parser
}

// NewSet returns a Set of issuers; two issuers may not share an "iss".
func NewSet(issuers ...*Issuer) (*Set, error) {
	s := &Set{byIssuer: make(map[string]*Issuer, len(issuers)), byTemplate: map[string]*Issuer{}}
	var algs []jose.SignatureAlgorithm
	for _, i := range issuers {
		byIss := s.byIssuer
		if i.tmpl != nil {
			byIss = s.byTemplate
		}
		if other, dup := byIss[i.opts.Issuer]; dup {
			return nil, fmt.Errorf("issuers %s and %s share iss %q", other.opts.Name, i.opts.Name, i.opts.Issuer)
		}
		byIss[i.opts.Issuer] = i
		for _, a := range i.opts.Algorithms {
			if !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
	}
	s.parser = jws.NewParser(algs)
	return s, nil
}

// Validate implements authz.Validator.
func (s *Set) Validate(ctx context.Context, token string) (*authz.Result, error) {
	if len(s.parser.Algorithms()) == 0 {
		return nil, invalid("no issuers configured")
	}
	// The header is refused before anything else is looked at if its alg
	// is outside the union of the allow-lists, "none" and HMAC included.
	tok, err := s.parser.Split(token)
	if err != nil {
		return nil, invalid("malformed or disallowed JWT: " + trimJose(err))
	}
	// Decoded once, unverified, to route by iss; trusted only after the
	// chosen issuer's key verifies the signature over these bytes.
	claims, err := decodeClaims(tok.Payload)
	if err != nil {
		return nil, invalid(err.Error())
	}
	issClaim, _ := claims["iss"].(string)
	iss, ok := s.byIssuer[issClaim]
	var tenant string
	if !ok {
		// An exact issuer wins; else a templated one, for a tenant it admits.
		if iss, tenant, ok = s.routeTemplate(issClaim); !ok {
			return nil, invalid(fmt.Sprintf("untrusted issuer %q", truncate(issClaim, 128)))
		}
	}
	return iss.validate(ctx, token, tok, claims, tenant)
}

// verify checks tok's signature against the keys its kid selects (all,
// without a kid); onVerify, when set, is told of each attempt.
func (k *Keys) verify(ctx context.Context, tok *jws.Compact, onVerify func()) (bool, error) {
	keys, err := k.lookup(ctx, tok.Header.KeyID)
	if err != nil {
		return false, err
	}
	for _, key := range keys {
		if key.Algorithm != "" && key.Algorithm != string(tok.Header.Alg) {
			continue // a key bound to another algorithm (RFC 7517 §4.4)
		}
		if onVerify != nil {
			onVerify()
		}
		if jws.Verify(tok.Header.Alg, key.Key, tok.SigningInput, tok.Signature) {
			return true, nil
		}
	}
	return false, nil
}

func invalid(reason string) error { return fmt.Errorf("%w: %s", authz.ErrInvalidToken, reason) }

func trimJose(err error) string {
	return truncate(strings.TrimPrefix(err.Error(), "go-jose/go-jose: "), 200)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// answerMismatch names a member the IdP's answer and the token both carry
// and disagree on (sub, jti), or "": RFC 7662 answers echo the token's own.
func answerMismatch(token, answer map[string]any) string {
	for _, k := range []string{"sub", "jti"} {
		a, inAnswer := answer[k].(string)
		t, inToken := token[k].(string)
		if inAnswer && inToken && a != t {
			return k
		}
	}
	return ""
}

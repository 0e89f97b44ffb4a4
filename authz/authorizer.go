// Package authz decides, from a request's OAuth 2.0 access token, whether the
// request may pass and what is forwarded upstream. It knows nothing of Envoy
// or HTTP: adapters build a Request and render the Decision.
package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authz-dev/authz/authz/cache"
)

// DefaultPolicy is the policy used when a request names none.
const DefaultPolicy = "default"

// Options configure an Authorizer.
type Options struct {
	Policies []*Policy
	// JWT judges tokens that look like JWTs (routing by iss); nil makes
	// them invalid.
	JWT Validator
	// Introspectors judge opaque tokens, by name; a policy names at most
	// one (an opaque token carries no issuer to choose by).
	Introspectors map[string]Validator
	// Cache bounds and lifetimes. Invalid results live in a cache of their
	// own, bounded by NegativeMaxBytes (default CacheMaxBytes/8), so junk
	// tokens can never evict valid ones.
	CacheMaxBytes    int64
	NegativeMaxBytes int64
	TTL              time.Duration // upper bound for valid results; never past exp
	NegativeTTL      time.Duration // for invalid results; 0 disables
	// Shared is an optional tier shared by replicas, asked on a local miss.
	Shared SharedCache
	// Answers is how the doors answer each outcome.
	Answers *Answers
	// Stamps fingerprint each validator's settings (by issuer or endpoint
	// name, and "jwt" for the set of issuers). A cached result whose
	// validator's stamp has changed is judged again.
	Stamps map[string]string
	// Reuse takes over the caches of the Authorizer a reload replaces, so
	// results whose validators did not change survive the reload.
	Reuse *Authorizer
}

// JWTRoute names, in Stamps, the route of every JWT-shaped token.
const JWTRoute = "jwt"

// Authorizer applies policies to requests.
type Authorizer struct {
	policies    map[string]*compiledPolicy
	jwt         Validator
	cache       *cache.Cache[*verdict]
	neg         *cache.Cache[*verdict]
	shared      SharedCache
	answers     *Answers
	stamps      map[string]string
	scopes      []string // cache scopes: "" for JWTs, then each introspection endpoint
	ttl, negTTL time.Duration
	now         func() time.Time
}

// verdict is the cached, policy-independent judgement of one token.
type verdict struct {
	res     *Result // nil when invalid
	invalid error
	// route and stamp name the validator (or token route) that judged, and
	// its settings then: a reload that changes them makes the verdict stale.
	route, stamp string
}

// New returns an Authorizer; Close releases its caches.
func New(opts Options) (*Authorizer, error) {
	negMax := opts.NegativeMaxBytes
	if negMax <= 0 {
		negMax = max(opts.CacheMaxBytes/8, 1<<20)
	}
	var c, neg *cache.Cache[*verdict]
	if r := opts.Reuse; r != nil {
		c, neg = r.cache, r.neg
		c.SetMaxBytes(opts.CacheMaxBytes)
		neg.SetMaxBytes(negMax)
	} else {
		var err error
		if c, err = cache.New[*verdict](cache.Options{MaxBytes: opts.CacheMaxBytes}); err != nil {
			return nil, err
		}
		if neg, err = cache.New[*verdict](cache.Options{MaxBytes: negMax}); err != nil {
			c.Close()
			return nil, err
		}
	}
	answers := opts.Answers
	if answers == nil {
		answers = &Answers{Header: "x-authz-outcome", Realm: "authz", ByOutcome: [len(Outcomes)]Answer{{Status: 200}, {Status: 401}, {Status: 401}, {Status: 403}, {Status: 503}}}
	}
	a := &Authorizer{
		policies: make(map[string]*compiledPolicy, len(opts.Policies)),
		jwt:      opts.JWT,
		cache:    c,
		neg:      neg,
		shared:   opts.Shared,
		answers:  answers,
		stamps:   opts.Stamps,
		scopes:   []string{""},
		ttl:      opts.TTL,
		negTTL:   opts.NegativeTTL,
		now:      time.Now,
	}
	for _, p := range opts.Policies {
		a.policies[p.Name] = compilePolicy(p, opts.Introspectors)
	}
	for name := range opts.Introspectors {
		a.scopes = append(a.scopes, name)
	}
	return a, nil
}

// Close releases the caches' goroutines.
func (a *Authorizer) Close() {
	a.cache.Close()
	a.neg.Close()
}

// Answers says how the doors answer each outcome.
func (a *Authorizer) Answers() *Answers { return a.answers }

// CacheStats reports the result cache's counters (valid tokens, and every
// validation run).
func (a *Authorizer) CacheStats() cache.Stats { return a.cache.Stats() }

// NegativeCacheStats reports the invalid-token cache's counters.
func (a *Authorizer) NegativeCacheStats() cache.Stats { return a.neg.Stats() }

// Authorize decides one request.
func (a *Authorizer) Authorize(ctx context.Context, req *Request) Decision {
	name := req.Policy
	if name == "" {
		name = DefaultPolicy
	}
	d := Decision{Policy: name}
	p, ok := a.policies[name]
	if !ok {
		// The name may have come from a request: bounded and cleaned
		// before it reaches a log line or an answer.
		d.Policy = loggablePolicyName(name)
		if def, ok := a.policies[DefaultPolicy]; ok {
			d.FailRPC = def.FailRPC
		}
		// A route naming a policy we do not have is a configuration error
		// between proxy and authorizer, not the client's fault.
		return d.fail(Error, fmt.Sprintf("unknown policy %q", d.Policy), "authorization is misconfigured")
	}

	d.FailRPC = p.FailRPC
	token, err := extractToken(req.Header, p.TokenSources)
	switch {
	case errors.Is(err, errNoToken):
		return d.fail(Missing, err.Error(), "")
	case err != nil:
		return d.fail(Invalid, err.Error(), err.Error())
	}

	sum := sha256.Sum256([]byte(token))
	d.TokenID = hex.EncodeToString(sum[:4])
	key := cacheKey(sum, p.opaqueName)

	v, hit, err := a.lookup(ctx, key, token, p)
	if err == nil && a.stamps[v.route] != v.stamp {
		// Judged under settings a reload has since changed.
		a.cache.Delete(key)
		a.neg.Delete(key)
		v, hit, err = a.lookup(ctx, key, token, p)
	}
	d.Cached = hit
	if err != nil {
		return d.fail(Error, err.Error(), "the access token could not be validated right now")
	}
	if v.invalid != nil {
		return d.fail(Invalid, v.invalid.Error(), publicReason(v.invalid))
	}
	res := v.res
	d.Validator = res.Validator
	// The cache never holds a result past its TTL, and the TTL never passes
	// exp; this guards the boundary second all the same.
	if !res.Expiry.IsZero() && !a.now().Before(res.Expiry) {
		return d.fail(Invalid, "token expired", "the access token expired")
	}
	if reason, ok := p.check(res); !ok {
		d.RequiredScopes = p.RequireScopes
		// The reason may name internal issuers: the log has it, the client
		// gets only the class (and the scope challenge).
		return d.fail(Forbidden, reason, "the access token does not grant access to this resource")
	}
	d.Outcome = Allow
	p.headers.render(res.Claims, req.Header, &d)
	if p.DynamicMetadata {
		d.Claims = res.Claims
	}
	return d
}

// lookup finds the token's verdict in the caches, or judges it once for
// every concurrent caller.
func (a *Authorizer) lookup(ctx context.Context, key, token string, p *compiledPolicy) (*verdict, bool, error) {
	if v, ok := a.neg.Get(key); ok {
		return v, true, nil
	}
	return a.cache.Load(ctx, key, func(ctx context.Context) (cache.Loaded[*verdict], error) {
		l, err := a.judge(ctx, token, p)
		if err != nil {
			return l, err
		}
		if l.Value.invalid != nil {
			a.neg.Store(key, l.Value, l.Cost, l.TTL)
			l.TTL = 0 // never in the valid-token cache
		}
		return l, nil
	})
}

// cacheKey is the token's hash and the scope it is judged in: the same
// opaque string may be a token at one IdP and junk at another.
func cacheKey(sum [sha256.Size]byte, scope string) string {
	var buf [sha256.Size + 64]byte
	return string(append(append(buf[:0], sum[:]...), scope...))
}

// judge finds the token's verdict in the shared tier or by validation, and
// says how to cache it locally.
func (a *Authorizer) judge(ctx context.Context, token string, p *compiledPolicy) (cache.Loaded[*verdict], error) {
	if a.shared != nil {
		if e, ok := a.shared.Get(ctx, token, p.opaqueName); ok {
			l := fromShared(e)
			a.stamp(l.Value, token, p)
			if e.Stamp == l.Value.stamp {
				return l, nil
			}
			// Judged under other settings (before a reload, or by a
			// replica on another config): judge again and overwrite.
		}
	}
	l, err := a.validate(ctx, token, p)
	if err == nil {
		a.stamp(l.Value, token, p)
	}
	if err == nil && a.shared != nil && l.TTL > 0 {
		a.shared.Set(ctx, token, p.opaqueName, toShared(l.Value, a.now().Add(l.TTL)))
	}
	return l, err
}

// validate runs the validator for the token's shape and says how to cache its answer.
func (a *Authorizer) validate(ctx context.Context, token string, p *compiledPolicy) (cache.Loaded[*verdict], error) {
	v := p.opaque
	kind := "opaque"
	if LooksLikeJWT(token) {
		v, kind = a.jwt, "JWT"
	}
	if v == nil {
		return a.negative(fmt.Errorf("%w: %s tokens are not accepted", ErrInvalidToken, kind)), nil
	}
	res, err := v.Validate(ctx, token)
	switch {
	case errors.Is(err, ErrInvalidToken):
		return a.negative(err), nil
	case err != nil:
		return cache.Loaded[*verdict]{}, err
	}
	ttl := a.ttl
	if !res.Expiry.IsZero() {
		ttl = min(ttl, res.Expiry.Sub(a.now()))
	}
	return cache.Loaded[*verdict]{Value: &verdict{res: res}, Cost: int64(res.Size), TTL: ttl}, nil
}

// stamp records which validator judged v, and its settings.
func (a *Authorizer) stamp(v *verdict, token string, p *compiledPolicy) {
	switch {
	case v.res != nil:
		v.route = v.res.Validator
	case LooksLikeJWT(token):
		v.route = JWTRoute
	default:
		v.route = p.opaqueName
	}
	v.stamp = a.stamps[v.route]
}

func (a *Authorizer) negative(err error) cache.Loaded[*verdict] {
	return cache.Loaded[*verdict]{Value: &verdict{invalid: err}, Cost: int64(len(err.Error())), TTL: a.negTTL}
}

func fromShared(e SharedEntry) cache.Loaded[*verdict] {
	ttl := time.Until(e.Until)
	if e.Result != nil {
		return cache.Loaded[*verdict]{Value: &verdict{res: e.Result}, Cost: int64(e.Result.Size), TTL: ttl}
	}
	err := fmt.Errorf("%w: %s", ErrInvalidToken, e.Invalid)
	if e.Expired {
		err = fmt.Errorf("%w: %w", ErrInvalidToken, ErrExpired)
	}
	return cache.Loaded[*verdict]{Value: &verdict{invalid: err}, Cost: int64(len(e.Invalid)), TTL: ttl}
}

func toShared(v *verdict, until time.Time) SharedEntry {
	if v.res != nil {
		return SharedEntry{Result: v.res, Until: until, Stamp: v.stamp}
	}
	return SharedEntry{Invalid: strings.TrimPrefix(v.invalid.Error(), ErrInvalidToken.Error()+": "), Expired: errors.Is(v.invalid, ErrExpired), Until: until, Stamp: v.stamp}
}

// Purge forgets a token here and, with a shared tier, everywhere: for a
// global logout that must not wait out the cache TTL.
func (a *Authorizer) Purge(ctx context.Context, token string) error {
	a.Forget(sha256.Sum256([]byte(token)))
	if a.shared == nil {
		return nil
	}
	return a.shared.Purge(ctx, token, a.scopes)
}

// Forget drops this replica's cached results for the token with this SHA-256.
func (a *Authorizer) Forget(sum [sha256.Size]byte) {
	for _, s := range a.scopes {
		a.cache.Delete(cacheKey(sum, s))
		a.neg.Delete(cacheKey(sum, s))
	}
}

// maxPolicyNameBytes bounds a policy name taken from a request.
const maxPolicyNameBytes = 64

// loggablePolicyName keeps at most maxPolicyNameBytes of name and replaces
// every byte outside [A-Za-z0-9._:/-] with '_'.
func loggablePolicyName(name string) string {
	truncated := len(name) > maxPolicyNameBytes
	if truncated {
		name = name[:maxPolicyNameBytes]
	}
	b := []byte(name)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("._:/-", c) >= 0:
		default:
			b[i] = '_'
		}
	}
	if truncated {
		return string(b) + "..."
	}
	return string(b)
}

func (d Decision) fail(o Outcome, reason, description string) Decision {
	d.Outcome = o
	d.Reason = reason
	d.Description = description
	return d
}

// publicReason keeps the client's error_description coarse: whether the
// token expired is useful to a client; which check failed helps an attacker.
func publicReason(err error) string {
	if errors.Is(err, ErrExpired) {
		return "the access token expired"
	}
	return "the access token is invalid"
}

// ErrExpired marks an expired token (wraps ErrInvalidToken in validators).
var ErrExpired = errors.New("token expired")

// LooksLikeJWT reports whether token is three base64url parts whose first
// decodes to a JSON object: the JWS compact serialization (RFC 7515 §7.1).
func LooksLikeJWT(token string) bool {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") || payload == "" || h == "" || len(h) > 2048 {
		return false
	}
	var buf [1536]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(h))
	if err != nil {
		return false
	}
	b := bytes.TrimSpace(buf[:n])
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

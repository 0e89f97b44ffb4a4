package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/authz-dev/authz/internal/cache"
	"go.opentelemetry.io/otel/trace"
)

// verdict is the cached, policy-independent judgement of one token.
type verdict struct {
	res *Result // nil when the token is invalid
	// reason says why the token is invalid; expired marks the one reason
	// the client is told about.
	reason  string
	expired bool
	// validator names who judged (an issuer, an introspection endpoint, or
	// JWTSet for a JWT no issuer vouched for), and fingerprint its settings
	// then: a reload that changes them makes the verdict stale.
	validator, fingerprint string
	// shared: read from the shared tier. judgedIn is the span of the Check
	// whose flight judged it, for the Checks that waited on that flight.
	shared   bool
	judgedIn trace.SpanContext
	// judged is when the validator judged it (to the millisecond, as the
	// shared tier carries it).
	judged time.Time
}

// JWTSet names, in Options.Fingerprints, the set of issuers that judges
// every JWT-shaped token: a JWT no issuer vouches for is invalid under it.
const JWTSet = "jwt"

// judge is who judges one token for one Check, chosen once in Authorize
// (judgeFor): the validator, the name its verdicts carry when the result
// names none, and the cache scope. A new kind of validator is a new file
// and a case in judgeFor; nothing below branches on the kind.
type judge struct {
	v Validator // nil: tokens of this kind are not accepted here
	// name signs verdicts the validator's result does not name: JWTSet
	// for a JWT no issuer vouched for, else the endpoint's name.
	name string
	// scope is where the verdict is cached: JWTs are judged by issuer
	// alone, whichever policy asks; an opaque string may be a token at one
	// introspection endpoint and junk at another, so per endpoint.
	scope string
	kind  string // for a refusal's reason: "JWT", "opaque"
	// remote: judging asks another service (the IdP), so replicas take
	// turns through the shared tier's lease; a JWT is judged locally, in
	// less time than the lease's round trips would take.
	remote bool
	// direct: the validator judges faster than a cache look-up would
	// answer (an API key: a hash and a map), and is current by
	// construction; its verdicts are not cached.
	direct bool
}

// judgeFor chooses by how the token came and its shape: an API key to the
// API-key validator its source names, a JWT to the issuer set (routed by
// iss), anything else to the policy's introspection endpoint.
func (a *Authorizer) judgeFor(token string, p *compiledPolicy, how presentation) judge {
	if how.apiKeys != "" {
		return judge{v: a.apiKeys[how.apiKeys], name: how.apiKeys, scope: how.apiKeys, kind: "API key", direct: true}
	}
	if looksLikeJWT(token) {
		return judge{v: a.jwt, name: JWTSet, kind: "JWT"}
	}
	return judge{v: p.introspector, name: p.introspectorName, scope: p.introspectorName, kind: "opaque", remote: true}
}

// cacheKey is the token's hash and the scope it is judged in.
func cacheKey(sum [sha256.Size]byte, scope string) string {
	var buf [sha256.Size + 64]byte
	return string(append(append(buf[:0], sum[:]...), scope...))
}

// lookup finds the token's verdict in the caches, or judges it once for
// every concurrent caller. A cached verdict whose validator has changed
// since (a reload) is dropped and judged again.
func (a *Authorizer) lookup(ctx context.Context, sum [sha256.Size]byte, token string, by judge) (*verdict, bool, error) {
	if by.direct {
		l, err := a.validate(ctx, token, by)
		return l.Value, false, err
	}
	key := cacheKey(sum, by.scope)
	v, hit, err := a.lookupOnce(ctx, key, token, by)
	if err == nil && !a.current(v) {
		a.cache.Delete(key)
		a.negative.Delete(key)
		v, hit, err = a.lookupOnce(ctx, key, token, by)
	}
	return v, hit, err
}

func (a *Authorizer) lookupOnce(ctx context.Context, key, token string, by judge) (*verdict, bool, error) {
	if v, ok := a.negative.Get(key); ok {
		return v, true, nil
	}
	return a.cache.Load(ctx, key, func(ctx context.Context) (cache.Loaded[*verdict], error) {
		l, err := a.judgeToken(ctx, key, token, by)
		if err != nil {
			return l, err
		}
		l.Value.judgedIn = trace.SpanContextFromContext(ctx)
		if l.Value.res == nil {
			a.negative.Store(key, l.Value, l.Cost, l.TTL)
			l.TTL = 0 // never in the valid-token cache
		}
		return l, nil
	})
}

// current reports whether v was judged under the settings its validator has now.
func (a *Authorizer) current(v *verdict) bool {
	return a.fingerprints[v.validator] == v.fingerprint
}

// judgeToken finds the token's verdict in the shared tier or by
// validation, and says how to cache it locally. With a shared tier, one
// replica at a time judges a token (it holds the token's lease) and the
// others take its verdict from the tier: the IdP sees one call per token
// per TTL, however many replicas serve it. A replica never waits longer
// than a lease lasts; then it judges the token itself.
func (a *Authorizer) judgeToken(ctx context.Context, key, token string, by judge) (cache.Loaded[*verdict], error) {
	if a.shared == nil {
		return a.validate(ctx, token, by)
	}
	// A refresh replaces a verdict the shared tier may hold itself: only
	// one judged after it will do.
	var after time.Time
	if cache.Refreshing(ctx) {
		if old, ok := a.cache.Get(key); ok {
			after = old.judged
		}
	}
	// Judged under other settings (before a reload, or by a replica on
	// another config), an entry is judged again and overwritten.
	if l, ok := a.sharedVerdict(ctx, token, by, after); ok {
		return l, nil
	}
	if by.remote {
		l, ok, release := a.takeTurn(ctx, token, by, after)
		if ok {
			return l, nil
		}
		defer release(true)
	}
	l, err := a.validate(ctx, token, by)
	if err != nil {
		return l, err
	}
	if l.TTL > 0 {
		a.shared.Set(ctx, token, by.scope, a.toShared(l.Value, a.now().Add(l.TTL)))
	}
	return l, nil
}

// sharedVerdict is the shared tier's verdict on the token, when one was
// judged after `after` under the settings this replica has.
func (a *Authorizer) sharedVerdict(ctx context.Context, token string, by judge, after time.Time) (cache.Loaded[*verdict], bool) {
	if e, ok := a.shared.Get(ctx, token, by.scope); ok && e.Judged.After(after) {
		if l := a.fromShared(e, by); a.current(l.Value) {
			return l, true
		}
	}
	return cache.Loaded[*verdict]{}, false
}

// takeTurn runs before a validation that asks the IdP: with the token's
// lease, this replica judges and returns the release to call once its
// verdict is shared; without it, another replica is judging and its
// verdict is returned (ok) — or, when none comes within the lease, this
// replica judges after all.
func (a *Authorizer) takeTurn(ctx context.Context, token string, by judge, after time.Time) (l cache.Loaded[*verdict], ok bool, release func(judged bool)) {
	none := func(bool) {}
	release, held := a.shared.Lease(ctx, token, by.scope)
	if !held {
		// The lease was free: perhaps because its last holder has just
		// written its verdict and let go.
		if l, ok := a.sharedVerdict(ctx, token, by, after); ok {
			release(false)
			return l, true, none
		}
		return l, false, release
	}
	if e, found := a.shared.Await(ctx, token, by.scope, after); found {
		if l := a.fromShared(e, by); a.current(l.Value) {
			return l, true, none
		}
	}
	return l, false, none
}

// validate runs the chosen validator and says how to cache its answer.
func (a *Authorizer) validate(ctx context.Context, token string, by judge) (cache.Loaded[*verdict], error) {
	if by.v == nil {
		return a.invalid(fmt.Errorf("%w: %s tokens are not accepted", ErrInvalidToken, by.kind), by), nil
	}
	res, err := by.v.Validate(ctx, token)
	switch {
	case errors.Is(err, ErrInvalidToken):
		return a.invalid(err, by), nil
	case err != nil:
		return cache.Loaded[*verdict]{}, err
	}
	ttl := a.ttl
	if !res.Expiry.IsZero() {
		ttl = min(ttl, res.Expiry.Sub(a.now()))
	}
	vd := &verdict{res: res, judged: a.now().Truncate(time.Millisecond)}
	a.sign(vd, by)
	return cache.Loaded[*verdict]{Value: vd, Cost: int64(res.Size), TTL: ttl, Refresh: res.Live}, nil
}

// invalid is the verdict on a token the validator refused, cached for the negative TTL.
func (a *Authorizer) invalid(err error, by judge) cache.Loaded[*verdict] {
	v := &verdict{reason: err.Error(), expired: errors.Is(err, ErrExpired), judged: a.now().Truncate(time.Millisecond)}
	a.sign(v, by)
	return cache.Loaded[*verdict]{Value: v, Cost: int64(len(v.reason)), TTL: a.negTTL}
}

// sign records which validator judged v, and its settings now.
func (a *Authorizer) sign(v *verdict, by judge) {
	switch {
	case v.res != nil:
		v.validator = v.res.Validator
	default:
		v.validator = by.name
	}
	v.fingerprint = a.fingerprints[v.validator]
}

func (a *Authorizer) fromShared(e SharedEntry, by judge) cache.Loaded[*verdict] {
	ttl := time.Until(e.Until)
	v := &verdict{res: e.Result, reason: e.Invalid, expired: e.Expired, shared: true, judged: e.Judged}
	a.sign(v, by)
	v.fingerprint = e.Fingerprint // as the judging replica had it
	cost := int64(len(e.Invalid))
	if e.Result != nil {
		cost = int64(e.Result.Size)
	}
	return cache.Loaded[*verdict]{Value: v, Cost: cost, TTL: ttl, Refresh: e.Result != nil && e.Result.Live}
}

func (a *Authorizer) toShared(v *verdict, until time.Time) SharedEntry {
	return SharedEntry{Result: v.res, Invalid: v.reason, Expired: v.expired, Until: until, Fingerprint: v.fingerprint, Judged: v.judged}
}

// PurgeReport says what a purge did.
type PurgeReport struct {
	// CachedHere: this replica held a result for the token.
	CachedHere bool `json:"cached_here"`
	// Shared: there is a shared tier, and it was told.
	Shared bool `json:"shared"`
	// Subscribers counts the replicas' subscriptions the purge reached
	// (on a Redis Cluster, those of the node it was published on).
	Subscribers int64 `json:"subscribers"`
}

// Purge forgets a token here and, with a shared tier, everywhere: for a
// global logout that must not wait out the cache TTL.
func (a *Authorizer) Purge(ctx context.Context, token string) (PurgeReport, error) {
	sum := sha256.Sum256([]byte(token))
	var r PurgeReport
	for _, s := range a.scopes {
		if _, ok := a.cache.Get(cacheKey(sum, s)); ok {
			r.CachedHere = true
		}
		if _, ok := a.negative.Get(cacheKey(sum, s)); ok {
			r.CachedHere = true
		}
	}
	a.Forget(sum)
	if a.shared == nil {
		return r, nil
	}
	n, err := a.shared.Purge(ctx, token, a.scopes)
	r.Shared, r.Subscribers = err == nil, n
	return r, err
}

// Forget drops this replica's cached results for the token with this SHA-256.
func (a *Authorizer) Forget(sum [sha256.Size]byte) {
	for _, s := range a.scopes {
		a.cache.Delete(cacheKey(sum, s))
		a.negative.Delete(cacheKey(sum, s))
	}
}

// Package authz decides, from a request's OAuth 2.0 access token, whether the
// request may pass and what is forwarded upstream. It knows nothing of Envoy
// or HTTP: adapters build a Request and render the Decision.
package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/authz-dev/authz/internal/cache"
	"go.opentelemetry.io/otel/trace"
)

// DefaultPolicy is the policy used when a request names none.
const DefaultPolicy = "default"

// Options configure an Authorizer.
type Options struct {
	Policies []*Policy
	// JWT judges tokens that look like JWTs (routing by iss); nil makes
	// them invalid.
	JWT Validator
	// NamedValidators judge opaque tokens (introspection endpoints), by the
	// name policies list them under; a policy names at most one, since an
	// opaque token carries no issuer to choose by. Which validator judges
	// a token is chosen once per Check (judgeFor, verdict.go).
	NamedValidators map[string]Validator
	// APIKeys judge API keys, by the name token sources give (a source
	// with APIKeys set). Their verdicts are not cached: a key is judged on
	// every Check, faster than a cache answers, so a key revoked in its
	// validator's store is refused at once.
	APIKeys map[string]Validator
	// Cache bounds and lifetimes. Invalid results live in a cache of their
	// own, bounded by NegativeMaxBytes (default CacheMaxBytes/8), so junk
	// tokens can never evict valid ones.
	CacheMaxBytes    int64
	NegativeMaxBytes int64
	// UpstreamMaxBytes bounds what policies' upstream steps remember
	// (minted tokens), default CacheMaxBytes/8; the cache exists only when
	// a policy has steps.
	UpstreamMaxBytes int64
	TTL              time.Duration // upper bound for valid results; never past exp
	NegativeTTL      time.Duration // for invalid results; 0 disables
	// Shared is an optional tier shared by replicas, asked on a local miss.
	Shared SharedCache
	// Answers is how the doors answer each outcome.
	Answers *Answers
	// Fingerprints fingerprint each validator's settings (by issuer or
	// endpoint name, and JWTSet for the set of issuers). A cached result
	// whose validator's fingerprint has changed is judged again.
	Fingerprints map[string]string
	// Reuse takes over the caches of the Authorizer a reload replaces, so
	// results whose validators did not change survive the reload.
	Reuse *Authorizer
	// Router picks a policy for requests that name none; nil means the
	// default policy for all of them.
	Router Router
	// Unmatched is the policy for requests no route matches, or
	// UnmatchedDeny (default: DefaultPolicy).
	Unmatched string
	// RefreshAhead is the last part of a live result's TTL (0.1: 10%)
	// during which a hit refreshes it in the background; 0 disables.
	RefreshAhead float64
	// OnRefresh, when set, is told how each background refresh ended.
	OnRefresh func(err error)
	// Sender checks proofs of possession for sender-constrained tokens;
	// nil refuses every bound token.
	Sender SenderChecks
	// KeepEncodedSeparators lets a path with %2F or %5C be routed as it
	// is; by default such a request is denied when routes choose.
	KeepEncodedSeparators bool
	// ProxyCacheMax bounds how long a proxy may reuse an answer that read
	// nothing but the token (Decision.ProxyCache); 0 lets it reuse none.
	ProxyCacheMax time.Duration
	// StrictUpstreamPaths says the upstreams read a path exactly as
	// written: no route is checked under its case-folded and
	// trailing-slash variants (see choose).
	StrictUpstreamPaths bool
	// OnPanic is told of a panic recovered in a Check or in a validation
	// (where: "check", "flight" or "refresh"), with its stack. The Check
	// answers error; the process goes on.
	OnPanic func(where string, recovered any, stack []byte)
}

// Authorizer applies policies to requests.
type Authorizer struct {
	policies map[string]*compiledPolicy
	jwt      Validator
	cache    *cache.Cache[*verdict]
	negative *cache.Cache[*verdict]
	// upstream is what upstream steps remember per verdict (memo); nil
	// when no policy has steps.
	upstream     *cache.Cache[string]
	shared       SharedCache
	answers      *Answers
	fingerprints map[string]string
	apiKeys      map[string]Validator
	scopes       []string // cache scopes: "" for JWTs, then each introspection endpoint
	ttl, negTTL  time.Duration
	now          func() time.Time

	sender  SenderChecks
	router  Router
	onPanic func(where string, recovered any, stack []byte)
	// commit holds the cache settings Commit applies.
	commit struct {
		maxBytes, negMaxBytes, upMaxBytes int64
		refreshAhead                      float64
		onRefresh                         func(error)
	}
	unmatched               string
	rejectEncodedSeparators bool
	checkPathVariants       bool
	proxyCacheMax           time.Duration
}

// New returns an Authorizer; Close releases its caches.
func New(opts Options) (*Authorizer, error) {
	negMax := opts.NegativeMaxBytes
	if negMax <= 0 {
		negMax = DefaultSideCacheBytes(opts.CacheMaxBytes)
	}
	var c, neg *cache.Cache[*verdict]
	if r := opts.Reuse; r != nil {
		// The running caches, resized by Commit once this Authorizer is
		// the one serving: building it must leave the running one as it is.
		c, neg = r.cache, r.negative
	} else {
		var err error
		if c, err = cache.New[*verdict](cache.Options{MaxBytes: opts.CacheMaxBytes, RefreshAhead: opts.RefreshAhead, OnRefresh: opts.OnRefresh, OnPanic: opts.OnPanic}); err != nil {
			return nil, err
		}
		if neg, err = cache.New[*verdict](cache.Options{MaxBytes: negMax, OnPanic: opts.OnPanic}); err != nil {
			c.Close()
			return nil, err
		}
	}
	up, err := upstreamCache(opts)
	if err != nil {
		if opts.Reuse == nil {
			c.Close()
			neg.Close()
		}
		return nil, err
	}
	answers := opts.Answers
	if answers == nil {
		answers = DefaultAnswers()
	}
	a := &Authorizer{
		policies:     make(map[string]*compiledPolicy, len(opts.Policies)),
		jwt:          opts.JWT,
		cache:        c,
		negative:     neg,
		upstream:     up,
		shared:       opts.Shared,
		answers:      answers,
		fingerprints: opts.Fingerprints,
		apiKeys:      opts.APIKeys,
		scopes:       []string{""},
		ttl:          opts.TTL,
		negTTL:       opts.NegativeTTL,
		now:          time.Now,

		sender:                  opts.Sender,
		onPanic:                 opts.OnPanic,
		router:                  opts.Router,
		unmatched:               opts.Unmatched,
		rejectEncodedSeparators: !opts.KeepEncodedSeparators,
		checkPathVariants:       !opts.StrictUpstreamPaths,
		proxyCacheMax:           opts.ProxyCacheMax,
	}
	if a.unmatched == "" {
		a.unmatched = DefaultPolicy
	}
	for _, p := range opts.Policies {
		a.policies[p.Name] = compilePolicy(p, opts.NamedValidators)
	}
	shareOwnership(a.policies, answers.OutcomeHeader)
	for name := range opts.NamedValidators {
		a.scopes = append(a.scopes, name)
	}
	for name := range opts.APIKeys {
		a.scopes = append(a.scopes, name)
	}
	a.commit.maxBytes, a.commit.negMaxBytes = opts.CacheMaxBytes, negMax
	a.commit.upMaxBytes = upstreamMaxBytes(opts)
	a.commit.refreshAhead, a.commit.onRefresh = opts.RefreshAhead, opts.OnRefresh
	return a, nil
}

// Commit applies this Authorizer's cache bounds and refresh settings to
// the caches it shares with the one it replaces: call it once it serves.
// Until then a reload that is refused leaves the running caches alone.
func (a *Authorizer) Commit() {
	a.cache.SetMaxBytes(a.commit.maxBytes)
	a.cache.SetRefresh(a.commit.refreshAhead, a.commit.onRefresh)
	a.negative.SetMaxBytes(a.commit.negMaxBytes)
	if a.upstream != nil {
		a.upstream.SetMaxBytes(a.commit.upMaxBytes)
	}
}

// Close releases the caches' goroutines.
func (a *Authorizer) Close() {
	a.cache.Close()
	a.negative.Close()
	if a.upstream != nil {
		a.upstream.Close()
	}
}

// Answers says how the doors answer each outcome.
func (a *Authorizer) Answers() *Answers { return a.answers }

// CacheStats reports the result cache's counters (valid tokens, and every
// validation run).
func (a *Authorizer) CacheStats() cache.Stats { return a.cache.Stats() }

// UpstreamCacheStats reports the counters of what upstream steps remember
// (minted tokens); zero while no policy has steps.
func (a *Authorizer) UpstreamCacheStats() cache.Stats {
	if a.upstream == nil {
		return cache.Stats{}
	}
	return a.upstream.Stats()
}

// NegativeCacheStats reports the invalid-token cache's counters.
func (a *Authorizer) NegativeCacheStats() cache.Stats { return a.negative.Stats() }

// Authorize decides one request in the eight steps of docs/architecture.md,
// numbered alike below: the request read, the policy, the token, its verdict,
// the policy's checks, the sender constraint, rules, what goes upstream.
func (a *Authorizer) Authorize(ctx context.Context, req *Request) (d Decision) {
	// Rule, sender and header code runs on the caller's goroutine: a panic
	// there answers error, never takes the process down.
	defer func() {
		if r := recover(); r != nil {
			if a.onPanic != nil {
				a.onPanic("check", r, debug.Stack())
			}
			d = Decision{Policy: d.Policy, Route: d.Route, ErrorMode: a.defaultErrorMode()}.
				fail(Error, fmt.Sprintf("panic: %v", r), "authorization failed")
		}
	}()
	// 1 and 2. The request, read once (choose refuses a target or host
	// readers could part on), then the policy: the proxy's, a route's, or
	// the unmatched one — once the proxy has described the request at all.
	if req.Undescribed != "" {
		d = Decision{ErrorMode: a.defaultErrorMode()}
		return d.fail(Error, "the proxy did not describe the request: "+req.Undescribed, "the proxy in front did not describe the request to the authorizer")
	}
	name, route, denied := a.choose(req)
	d = Decision{Policy: name, Route: route}
	if denied != "" {
		d.ErrorMode = a.defaultErrorMode()
		return d.fail(Forbidden, denied, "no access is configured for this request")
	}
	p, ok := a.policies[name]
	if !ok {
		// The name may have come from a request: bounded and cleaned
		// before it reaches a log line or an answer.
		d.Policy = loggablePolicyName(name)
		d.ErrorMode = a.defaultErrorMode()
		// A route naming a policy we do not have is a configuration error
		// between proxy and authorizer, not the client's fault.
		return d.fail(Error, fmt.Sprintf("unknown policy %q", d.Policy), "authorization is misconfigured")
	}
	d.ErrorMode = p.ErrorMode
	d.Metadata = p.DynamicMetadata
	d.ResourceMetadata = p.ResourceMetadata

	// 3. The token, if the policy looks at tokens at all.
	if p.Token == TokenNone {
		return a.allowWithoutToken(ctx, req, p, d)
	}
	token, how, err := extractToken(req.Header, p.TokenSources)
	switch {
	case errors.Is(err, errNoToken) && p.Token == TokenOptional:
		return a.allowWithoutToken(ctx, req, p, d)
	case errors.Is(err, errNoToken):
		return d.fail(Missing, err.Error(), "")
	case err != nil:
		return d.fail(Invalid, err.Error(), err.Error())
	}
	sum := sha256.Sum256([]byte(token))
	d.TokenID = hex.EncodeToString(sum[:4])

	// 4. The cached verdict, or a validation shared by every
	// concurrent Check of this token.
	v, hit, err := a.lookup(ctx, sum, token, a.judgeFor(token, p, how))
	d.Cached = hit
	if err == nil && !hit {
		d.Shared = v.shared
		// A Check that waited on another's flight links to the span that
		// did the work.
		if here := trace.SpanContextFromContext(ctx); v.judgedIn.IsValid() && !v.judgedIn.Equal(here) {
			trace.SpanFromContext(ctx).AddLink(trace.Link{SpanContext: v.judgedIn})
		}
	}
	if err != nil {
		d.Validator = JWTSet
		if !looksLikeJWT(token) {
			d.Validator = p.introspectorName
		}
		return d.fail(Error, err.Error(), "the access token could not be validated right now")
	}
	if v.res == nil {
		d.Validator = v.validator
		d = d.fail(Invalid, v.reason, publicReason(v.expired))
		d.ProxyCache = a.proxyCacheFor(req, p, v, &d)
		return d
	}
	res := v.res
	d.Validator = res.Validator
	// The cache never holds a result past its TTL, and the TTL never passes
	// exp; this guards the boundary second all the same.
	if !res.Expiry.IsZero() && !a.now().Before(res.Expiry) {
		return d.fail(Invalid, "token expired", publicReason(true))
	}

	// 5. The policy's demands, rerun on every hit. A token for another
	// resource is not a token for this one at all: invalid, not
	// forbidden (RFC 8707; the MCP authorization spec).
	if p.Resource != "" && !audienceNamesResource(res.Claims, p.Resource) {
		d = d.fail(Invalid, "token audience does not name resource "+p.Resource, "the access token is not for this resource")
		d.ProxyCache = a.proxyCacheFor(req, p, v, &d)
		return d
	}
	if reason, ok := p.check(res); !ok {
		d.RequiredScopes = p.RequireScopes
		// The reason may name internal issuers: the log has it, the client
		// gets only the class (and the scope challenge).
		d = d.fail(Forbidden, reason, "the access token does not grant access to this resource")
		d.ProxyCache = a.proxyCacheFor(req, p, v, &d)
		return d
	}

	// 6. The sender constraint: a bound token's proof of possession,
	// checked on every Check (a proof is per request).
	bound := bindingOf(res.Claims)
	if err := a.checkSender(ctx, req, p, bound, token, how); err != nil {
		var se *SenderError
		if !errors.As(err, &se) {
			return d.fail(Error, "sender constraint: "+err.Error(), "the access token could not be validated right now")
		}
		d.Sender = se.Reason
		// DPoP's own challenge when DPoP is at stake (RFC 9449 §7.1).
		if how.dpop || bound.jkt != "" {
			d.DPoPError = "invalid_token"
			switch {
			case se.Nonce != "":
				d.DPoPError, d.DPoPNonce = "use_dpop_nonce", se.Nonce
			case se.Proof:
				d.DPoPError = "invalid_dpop_proof"
			}
		}
		return d.fail(Invalid, se.Error(), senderDescription(se))
	}

	// 7. The policy's rules, over the request and the claims.
	if failed, reason := p.evalRules(ctx, req, res.Claims, res.Validator); failed != "" {
		d.Rule = failed
		return d.fail(Forbidden, reason, "the access token does not grant access to this resource")
	}

	// 8. Claims to headers and metadata, then the policy's upstream steps.
	d.Outcome = Allow
	d.Sender = bound.kind()
	p.headers.render(res.Claims, req.Header, &d)
	if p.DynamicMetadata {
		d.Claims = res.Claims
	}
	in := &UpstreamInput{Request: req, Token: token, Claims: res.Claims, Validator: res.Validator, Expiry: res.Expiry, Signed: res.Signed}
	if len(p.Upstream) > 0 && a.upstream != nil {
		in.memo = &memo{cache: a.upstream, sum: sum, policy: p.Name, judged: v.judged}
	}
	d = p.forward(ctx, in, d)
	d.ProxyCache = a.proxyCacheFor(req, p, v, &d)
	return d
}

// allowWithoutToken decides a request that carries no token on a policy
// that does not need one: only the rules may refuse it, and no claim
// header passes (the client's copies are removed all the same).
func (a *Authorizer) allowWithoutToken(ctx context.Context, req *Request, p *compiledPolicy, d Decision) Decision {
	if failed, reason := p.evalRules(ctx, req, nil, ""); failed != "" {
		d.Rule = failed
		return d.fail(Forbidden, reason, "no access is granted for this request")
	}
	d.Outcome = Allow
	p.headers.render(nil, req.Header, &d)
	return p.forward(ctx, &UpstreamInput{Request: req}, d)
}

func (a *Authorizer) defaultErrorMode() ErrorMode {
	if def, ok := a.policies[DefaultPolicy]; ok {
		return def.ErrorMode
	}
	return ErrorRespond
}

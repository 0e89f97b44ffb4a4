package authz

import (
	"context"
	"errors"
	"strings"
)

// Policy is what a route demands of a token and what it forwards upstream.
// Routes pick a policy by name (Envoy's context_extensions["policy"]).
type Policy struct {
	Name         string
	TokenSources []TokenSource
	// Validators lists the issuers and introspection endpoints whose tokens
	// this policy accepts; a valid token from any other is forbidden.
	Validators       []string
	RequireScopes    []string
	RequireAudiences []string
	// Resource is the protected resource this policy guards, canonical
	// (CanonicalResource): a token whose audience does not name it is
	// invalid (RFC 8707). ResourceMetadata is where the resource's
	// metadata document is (RFC 9728 §3), named in every challenge.
	Resource         string
	ResourceMetadata string
	Headers          []ClaimHeader
	HeaderSeparator  string
	MaxHeaderBytes   int
	PayloadHeader    string
	DynamicMetadata  bool
	// ErrorMode says how the gRPC door answers an Error outcome.
	ErrorMode ErrorMode
	// Token says whether the policy needs a token: TokenRequired (the
	// zero value), TokenOptional or TokenNone.
	Token TokenMode
	// Rules must all hold, after the token's checks; nil means none.
	Rules Rules
	// SenderConstraint demands a bound token; a token bound by cnf is
	// held to its binding whatever this says.
	SenderConstraint SenderConstraint
	// Upstream are the steps that add to what an allowed request forwards,
	// after the claim headers, in order (see Upstream).
	Upstream []Upstream
}

// TokenMode says what a policy does with tokens.
type TokenMode uint8

const (
	// TokenRequired: no token is missing, a bad one invalid.
	TokenRequired TokenMode = iota
	// TokenOptional: no token is allowed (without claims); a token
	// present must be valid.
	TokenOptional
	// TokenNone: tokens are not looked at (public routes).
	TokenNone
)

// Rules are a policy's conditions over the request and the token's
// claims. Eval returns the name of the first rule that does not hold, or
// "" when all do; err says why a rule could not be evaluated (it then
// counts as not holding).
type Rules interface {
	Eval(ctx context.Context, in *RuleInput) (failed string, err error)
}

// RuleInput is what rules see.
type RuleInput struct {
	Request *Request
	// Claims are the token's claims; nil without a token.
	Claims map[string]any
	// Validator names the issuer or endpoint that vouched for the token.
	Validator string
}

// evalRules returns the failing rule's name and the reason for the log,
// or "" when every rule holds.
func (p *compiledPolicy) evalRules(ctx context.Context, req *Request, claims map[string]any, validator string) (failed, reason string) {
	if p.Rules == nil {
		return "", ""
	}
	failed, err := p.Rules.Eval(ctx, &RuleInput{Request: req, Claims: claims, Validator: validator})
	var body *BodyError
	switch {
	case failed == "":
		return "", ""
	case errors.As(err, &body):
		return failed, "rule " + failed + " reads the request body, which cannot be judged: " + body.Reason
	case err != nil:
		return failed, "rule " + failed + " could not be evaluated: " + err.Error()
	default:
		return failed, "rule " + failed + " does not hold"
	}
}

// BodyError is a request body a policy's rules needed and could not read:
// cut short by the proxy, past the bound, absent, or not what the rules
// read (JSON-RPC for mcp). A rule that cannot read the body cannot hold.
type BodyError struct{ Reason string }

func (e *BodyError) Error() string { return "request body: " + e.Reason }

// compiledPolicy is a Policy prepared for the hot path.
type compiledPolicy struct {
	*Policy
	validators map[string]bool
	headers    headerPlan
	// introspector judges tokens that are not JWTs: the one introspection
	// endpoint among the policy's validators, if any.
	introspector     Validator
	introspectorName string
}

func compilePolicy(p *Policy, introspectors map[string]Validator) *compiledPolicy {
	p = withLowerCaseHeaders(p)
	cp := &compiledPolicy{Policy: p, validators: make(map[string]bool, len(p.Validators)), headers: newHeaderPlan(p, stepHeaders(p.Upstream))}
	for _, v := range p.Validators {
		cp.validators[v] = true
		if in, ok := introspectors[v]; ok && cp.introspector == nil {
			cp.introspector, cp.introspectorName = in, v
		}
	}
	return cp
}

// withLowerCaseHeaders returns a copy of p whose header names are lower
// case: Envoy hands headers over lower-cased, and the core compares names
// as they are.
func withLowerCaseHeaders(p *Policy) *Policy {
	c := *p
	c.PayloadHeader = strings.ToLower(p.PayloadHeader)
	c.TokenSources = make([]TokenSource, len(p.TokenSources))
	for i, ts := range p.TokenSources {
		ts.Header = strings.ToLower(ts.Header)
		c.TokenSources[i] = ts
	}
	c.Headers = make([]ClaimHeader, len(p.Headers))
	for i, h := range p.Headers {
		h.Header = strings.ToLower(h.Header)
		c.Headers[i] = h
	}
	return &c
}

// check applies the policy's demands to a valid token's result; it reruns on
// every cache hit because one cached result serves many policies.
func (p *compiledPolicy) check(res *Result) (reason string, ok bool) {
	if !p.validators[res.Validator] {
		return "token issuer " + res.Validator + " not accepted by policy", false
	}
	if !hasScopes(res.Claims, p.RequireScopes) {
		return "insufficient scope", false
	}
	if !HasAnyAudience(res.Claims, p.RequireAudiences) {
		return "audience not accepted by policy", false
	}
	return "", true
}

package authz

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// countingValidator judges tokens by a table and counts calls.
type countingValidator struct {
	calls   atomic.Int64
	results map[string]*Result
	errs    map[string]error
}

func (v *countingValidator) Validate(_ context.Context, token string) (*Result, error) {
	v.calls.Add(1)
	if err, ok := v.errs[token]; ok {
		return nil, err
	}
	if r, ok := v.results[token]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("%w: unknown", ErrInvalidToken)
}

func newTestAuthorizer(t *testing.T, v Validator) *Authorizer {
	t.Helper()
	a, err := New(Options{
		Policies: []*Policy{
			{Name: "default", TokenSources: []TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"corp"}},
			{Name: "write", TokenSources: []TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"corp"}, RequireScopes: []string{"write"}},
			{Name: "other-issuer", TokenSources: []TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"partner"}},
		},
		NamedValidators: map[string]Validator{"corp": v},
		CacheMaxBytes:   1 << 20,
		TTL:             time.Minute,
		NegativeTTL:     time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func req(policy, token string) *Request {
	return &Request{Policy: policy, Header: MapHeader{"authorization": {"Bearer " + token}}}
}

func TestCachedResultIsRecheckedPerPolicy(t *testing.T) {
	v := &countingValidator{results: map[string]*Result{
		"read": {Validator: "corp", Claims: map[string]any{"scope": "read"}, Expiry: time.Now().Add(time.Hour)},
	}}
	a := newTestAuthorizer(t, v)
	ctx := context.Background()
	if d := a.Authorize(ctx, req("", "read")); d.Outcome != Allow {
		t.Fatalf("default: %v %s", d.Outcome, d.Reason)
	}
	// The cached result must not carry the default policy's verdict to another policy.
	if d := a.Authorize(ctx, req("write", "read")); d.Outcome != Forbidden || !d.Cached {
		t.Fatalf("write: %v cached=%v", d.Outcome, d.Cached)
	}
	// A policy that names no introspection endpoint cannot judge an opaque token.
	if d := a.Authorize(ctx, req("other-issuer", "read")); d.Outcome != Invalid {
		t.Fatalf("other issuer: %v", d.Outcome)
	}
	if n := v.calls.Load(); n != 1 {
		t.Errorf("validator called %d times, want 1", n)
	}
}

func TestInvalidIsCachedErrorIsNot(t *testing.T) {
	v := &countingValidator{errs: map[string]error{"down": fmt.Errorf("%w: idp unreachable", ErrUnavailable)}}
	a := newTestAuthorizer(t, v)
	ctx := context.Background()
	for range 3 {
		if d := a.Authorize(ctx, req("", "junk")); d.Outcome != Invalid {
			t.Fatalf("junk: %v", d.Outcome)
		}
	}
	if n := v.calls.Load(); n != 1 {
		t.Errorf("invalid token validated %d times, want 1 (negative cache)", n)
	}
	for range 3 {
		if d := a.Authorize(ctx, req("", "down")); d.Outcome != Error {
			t.Fatalf("down: %v", d.Outcome)
		}
	}
	if n := v.calls.Load(); n != 4 {
		t.Errorf("validator calls = %d, want 4 (errors never cached)", n)
	}
}

func TestExpiredResultIsNeverAllowed(t *testing.T) {
	v := &countingValidator{results: map[string]*Result{
		"stale": {Validator: "corp", Claims: map[string]any{}, Expiry: time.Now().Add(-time.Second)},
	}}
	a := newTestAuthorizer(t, v)
	if d := a.Authorize(context.Background(), req("", "stale")); d.Outcome != Invalid {
		t.Errorf("outcome %v, want invalid", d.Outcome)
	}
}

func TestUnknownPolicyIsError(t *testing.T) {
	a := newTestAuthorizer(t, &countingValidator{})
	d := a.Authorize(context.Background(), req("nope", "x"))
	if d.Outcome != Error || d.Reason != `unknown policy "nope"` {
		t.Errorf("got %v %q", d.Outcome, d.Reason)
	}
}

func TestOneJWTIsJudgedOnceWhateverThePolicysIntrospector(t *testing.T) {
	jwtV := &countingValidator{results: map[string]*Result{}}
	introA, introB := &countingValidator{}, &countingValidator{}
	bearer := []TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	a, err := New(Options{
		Policies: []*Policy{
			{Name: "a", TokenSources: bearer, Validators: []string{"corp", "intro-a"}},
			{Name: "b", TokenSources: bearer, Validators: []string{"corp", "intro-b"}},
			{Name: "none", TokenSources: bearer, Validators: []string{"corp"}},
		},
		JWT:             jwtV,
		NamedValidators: map[string]Validator{"intro-a": introA, "intro-b": introB},
		CacheMaxBytes:   1 << 20, TTL: time.Minute, NegativeTTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// A JWT-shaped token: header {"alg":"RS256"}.
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
	jwtV.results[tok] = &Result{Validator: "corp", Claims: map[string]any{"sub": "a"}, Expiry: time.Now().Add(time.Hour)}
	if d := a.Authorize(context.Background(), req("a", tok)); d.Outcome != Allow {
		t.Fatalf("policy a: %v %s", d.Outcome, d.Reason)
	}
	// The miss waited for ristretto to apply its write: every policy now
	// hits the one entry.
	before := jwtV.calls.Load()
	for _, p := range []string{"b", "none", "a"} {
		if d := a.Authorize(context.Background(), req(p, tok)); d.Outcome != Allow || !d.Cached {
			t.Errorf("policy %s: %v cached=%v", p, d.Outcome, d.Cached)
		}
	}
	if got := jwtV.calls.Load() - before; got != 0 {
		t.Errorf("a cached JWT was validated %d more times across policies with different introspectors", got)
	}
	if introA.calls.Load()+introB.calls.Load() != 0 {
		t.Error("a JWT was sent to an introspection endpoint")
	}
}

type panickingValidator struct{}

func (panickingValidator) Validate(context.Context, string) (*Result, error) { panic("validator bug") }

// A validator that panics makes the Check answer error, reported once
// with where it happened; the next Check is answered.
func TestAPanickingValidatorAnswersError(t *testing.T) {
	var wheres []string
	a, err := New(Options{
		Policies:        []*Policy{{Name: "default", TokenSources: []TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"corp"}}},
		NamedValidators: map[string]Validator{"corp": panickingValidator{}},
		CacheMaxBytes:   1 << 20, TTL: time.Minute,
		OnPanic: func(where string, _ any, stack []byte) {
			if len(stack) == 0 {
				t.Error("no stack")
			}
			wheres = append(wheres, where)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := range 2 {
		if d := a.Authorize(context.Background(), req("", fmt.Sprint("opaque-", i))); d.Outcome != Error {
			t.Errorf("Check %d: %s (%s), want error", i, d.Outcome, d.Reason)
		}
	}
	if len(wheres) != 2 || wheres[0] != "flight" {
		t.Errorf("panics reported at %v", wheres)
	}
}

type panickingRules struct{}

func (panickingRules) Eval(context.Context, *RuleInput) (string, error) { panic("rule bug") }

// A rule that panics, on the Check's own goroutine, answers error too.
func TestAPanickingRuleAnswersError(t *testing.T) {
	var wheres []string
	a, err := New(Options{
		Policies:      []*Policy{{Name: "default", Token: TokenNone, Rules: panickingRules{}}},
		CacheMaxBytes: 1 << 20, TTL: time.Minute,
		OnPanic: func(where string, _ any, _ []byte) { wheres = append(wheres, where) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if d := a.Authorize(context.Background(), &Request{Header: MapHeader{}}); d.Outcome != Error || d.Policy != "default" {
		t.Errorf("%s policy %q (%s), want error", d.Outcome, d.Policy, d.Reason)
	}
	if len(wheres) != 1 || wheres[0] != "check" {
		t.Errorf("panics reported at %v", wheres)
	}
}

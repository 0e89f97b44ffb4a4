package authz

import (
	"context"
	"errors"
	"testing"
	"time"
)

// stampStep writes one header upstream, or fails; it counts its runs.
type stampStep struct {
	fail bool
	runs int
}

func (s *stampStep) Name() string { return "stamp" }

func (s *stampStep) Forward(_ context.Context, in *UpstreamInput, d *Decision) error {
	s.runs++
	if s.fail {
		return errors.New("signing key unavailable")
	}
	sub, _ := in.Claims["sub"].(string)
	d.Headers = append(d.Headers, HeaderValue{Name: "x-upstream-identity", Value: "for:" + sub})
	return nil
}

// A policy's upstream steps run after its claim headers on an allow only;
// one that fails makes the Check an error with nothing forwarded.
func TestUpstreamStepsRunOnAllowOnly(t *testing.T) {
	ok, broken := &stampStep{}, &stampStep{fail: true}
	v := &countingValidator{results: map[string]*Result{
		"good": {Claims: map[string]any{"sub": "alice", "scope": "read"}, Expiry: time.Now().Add(time.Hour), Validator: "corp"},
	}}
	sources := []TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	a, err := New(Options{
		Policies: []*Policy{
			{Name: "default", TokenSources: sources, Validators: []string{"corp"}, Headers: []ClaimHeader{{Claim: "sub", Header: "x-user-id"}}, Upstream: []Upstream{ok}},
			{Name: "write", TokenSources: sources, Validators: []string{"corp"}, RequireScopes: []string{"write"}, Upstream: []Upstream{ok}},
			{Name: "broken", TokenSources: sources, Validators: []string{"corp"}, Upstream: []Upstream{broken}},
		},
		NamedValidators: map[string]Validator{"corp": v},
		CacheMaxBytes:   1 << 20, TTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	d := a.Authorize(ctx, req("", "good"))
	if d.Outcome != Allow || len(d.Headers) != 2 || d.Headers[0].Name != "x-user-id" || d.Headers[1] != (HeaderValue{Name: "x-upstream-identity", Value: "for:alice"}) {
		t.Errorf("allow: %s %v", d.Outcome, d.Headers)
	}
	if d := a.Authorize(ctx, req("write", "good")); d.Outcome != Forbidden || ok.runs != 1 {
		t.Errorf("a denial ran the step (%d runs): %s", ok.runs, d.Outcome)
	}
	if d := a.Authorize(ctx, req("broken", "good")); d.Outcome != Error || len(d.Headers) != 0 || broken.runs != 1 {
		t.Errorf("a failing step: %s %v", d.Outcome, d.Headers)
	}
}

package authz

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The verdict cache's timing on a fake clock (testing/synctest): a hot
// token is refreshed ahead once, the cached verdict serving meanwhile; no
// verdict outlives the token's exp; an invalid verdict lives its negative
// TTL. Seconds of the cache's life run in no wall-clock time, so these
// hold on any machine, however loaded.

// clockValidator answers every token active until exp, live (asked of
// the IdP, as introspection is, so refresh ahead applies), and counts its
// calls; "bad" is invalid.
type clockValidator struct {
	calls atomic.Int64
	exp   time.Time
}

func (v *clockValidator) Validate(_ context.Context, token string) (*Result, error) {
	v.calls.Add(1)
	if token == "bad" {
		return nil, ErrInvalidToken
	}
	return &Result{Validator: "corp", Claims: map[string]any{"sub": "alice"}, Expiry: v.exp, Live: true}, nil
}

func newClockAuthorizer(t *testing.T, v Validator, refreshed chan<- error) *Authorizer {
	t.Helper()
	a, err := New(Options{
		Policies:        []*Policy{{Name: DefaultPolicy, TokenSources: []TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"corp"}}},
		NamedValidators: map[string]Validator{"corp": v},
		CacheMaxBytes:   1 << 20, TTL: 4 * time.Second, NegativeTTL: 2 * time.Second, RefreshAhead: 0.5,
		OnRefresh: func(err error) { refreshed <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAHotVerdictIsRefreshedAheadOnAFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := &clockValidator{exp: time.Now().Add(time.Hour)}
		refreshed := make(chan error, 4)
		a := newClockAuthorizer(t, v, refreshed)
		defer a.Close()
		ctx := context.Background()
		allow := func(when string) {
			t.Helper()
			if d := a.Authorize(ctx, req("", "hot")); d.Outcome != Allow {
				t.Fatalf("%s: %v (%s)", when, d.Outcome, d.Reason)
			}
		}
		allow("first")
		time.Sleep(time.Second)
		allow("within the TTL's first half")
		if n := v.calls.Load(); n != 1 {
			t.Fatalf("%d validations within the TTL, want 1", n)
		}
		time.Sleep(1500 * time.Millisecond) // 2.5 s: the last half of the 4 s TTL
		allow("in the last half")           // served cached, starts the refresh
		synctest.Wait()
		if n := v.calls.Load(); n != 2 || len(refreshed) != 1 {
			t.Fatalf("%d validations and %d refreshes after a Check in the TTL's last half, want 2 and 1", n, len(refreshed))
		}
		if err := <-refreshed; err != nil {
			t.Fatalf("the refresh: %v", err)
		}
		time.Sleep(2 * time.Second) // 4.5 s: past the first verdict's TTL
		allow("past the first TTL")
		if n := v.calls.Load(); n != 2 {
			t.Errorf("%d validations, want 2: the refreshed verdict serves", n)
		}
	})
}

func TestNoVerdictOutlivesItsExpOnAFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := &clockValidator{exp: time.Now().Add(3 * time.Second)} // before the 4 s TTL ends
		a := newClockAuthorizer(t, v, make(chan error, 4))
		defer a.Close()
		ctx := context.Background()
		if d := a.Authorize(ctx, req("", "short")); d.Outcome != Allow {
			t.Fatalf("before exp: %v", d.Outcome)
		}
		time.Sleep(3*time.Second + time.Millisecond)
		if d := a.Authorize(ctx, req("", "short")); d.Outcome != Invalid || d.Description != publicReason(true) {
			t.Errorf("past exp: %v (%q), want invalid, expired", d.Outcome, d.Description)
		}
		// An invalid verdict lives its negative TTL, then is judged again.
		a.Authorize(ctx, req("", "bad"))
		a.Authorize(ctx, req("", "bad"))
		before := v.calls.Load()
		time.Sleep(2*time.Second + time.Millisecond)
		a.Authorize(ctx, req("", "bad"))
		if n := v.calls.Load() - before; n != 1 {
			t.Errorf("%d validations of an invalid token past the negative TTL, want 1", n)
		}
	})
}

package authz

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Replicas sharing verdicts through a tier, with a fake tier in memory and
// a fake clock (testing/synctest): one judgement per token for the fleet,
// a waiting replica taking the lease holder's verdict, an IdP error never
// shared, a waiter that outlasts its lease judging for itself. The real
// tier (Redis) is tested in internal/rediscache; replicas over it in the
// server's suite.

// memTier is a SharedCache in memory: entries, and leases that last
// leaseFor.
type memTier struct {
	mu       sync.Mutex
	entries  map[string]SharedEntry
	leases   map[string]time.Time // key → lease end
	leaseFor time.Duration
}

func newMemTier(lease time.Duration) *memTier {
	return &memTier{entries: map[string]SharedEntry{}, leases: map[string]time.Time{}, leaseFor: lease}
}

func (m *memTier) Get(_ context.Context, token, scope string) (SharedEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[scope+"|"+token]
	return e, ok && time.Now().Before(e.Until)
}

func (m *memTier) Set(_ context.Context, token, scope string, e SharedEntry) {
	m.mu.Lock()
	m.entries[scope+"|"+token] = e
	m.mu.Unlock()
}

func (m *memTier) Purge(context.Context, string, []string) (int64, error) { return 0, nil }

func (m *memTier) Lease(_ context.Context, token, scope string) (func(bool), bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := scope + "|" + token
	if end, ok := m.leases[key]; ok && time.Now().Before(end) {
		return func(bool) {}, true
	}
	m.leases[key] = time.Now().Add(m.leaseFor)
	return func(bool) { m.mu.Lock(); delete(m.leases, key); m.mu.Unlock() }, false
}

func (m *memTier) Await(ctx context.Context, token, scope string, after time.Time) (SharedEntry, bool) {
	key := scope + "|" + token
	for deadline := time.Now().Add(m.leaseFor); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		m.mu.Lock()
		e, found := m.entries[key]
		end, held := m.leases[key]
		m.mu.Unlock()
		switch {
		case found && e.Judged.After(after):
			return e, true
		case !held || !time.Now().Before(end):
			return SharedEntry{}, false
		}
	}
	return SharedEntry{}, false
}

// gatedValidator judges opaque tokens active, each call waiting for the
// gate first; fail makes the next calls an IdP error.
type gatedValidator struct {
	gate  chan struct{}
	calls atomic.Int64
	fail  atomic.Bool
}

var errIdPDown = errors.New("idp down")

func (v *gatedValidator) Validate(ctx context.Context, token string) (*Result, error) {
	v.calls.Add(1)
	select {
	case <-v.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if v.fail.Load() {
		return nil, errIdPDown
	}
	return &Result{Validator: "corp", Claims: map[string]any{"sub": "alice"}, Expiry: time.Now().Add(time.Hour), Live: true}, nil
}

func newReplica(t *testing.T, v Validator, tier SharedCache) *Authorizer {
	t.Helper()
	a, err := New(Options{
		Policies:        []*Policy{{Name: DefaultPolicy, TokenSources: []TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"corp"}}},
		NamedValidators: map[string]Validator{"corp": v},
		Fingerprints:    map[string]string{"corp": "settings-1"},
		Shared:          tier,
		CacheMaxBytes:   1 << 20, TTL: time.Minute, NegativeTTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// outcomeOf runs a Check in the background and returns where its outcome
// will arrive.
func outcomeOf(a *Authorizer, token string) <-chan Outcome {
	out := make(chan Outcome, 1)
	go func() { out <- a.Authorize(context.Background(), req("", token)).Outcome }()
	return out
}

func TestTheFleetJudgesATokenOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tier := newMemTier(5 * time.Second)
		v := &gatedValidator{gate: make(chan struct{})}
		a, b, c := newReplica(t, v, tier), newReplica(t, v, tier), newReplica(t, v, tier)
		defer a.Close()
		defer b.Close()
		defer c.Close()

		atA := outcomeOf(a, "opaque-1")
		synctest.Wait() // A holds the lease, asking the IdP
		atB := outcomeOf(b, "opaque-1")
		synctest.Wait() // B waits on A's lease
		close(v.gate)
		if oa, ob := <-atA, <-atB; oa != Allow || ob != Allow {
			t.Fatalf("A %v, B %v; want both allowed", oa, ob)
		}
		if n := v.calls.Load(); n != 1 {
			t.Errorf("%d validations for two replicas at once, want 1 (B took A's verdict)", n)
		}
		if o := <-outcomeOf(c, "opaque-1"); o != Allow || v.calls.Load() != 1 {
			t.Errorf("a third replica later: %v after %d validations, want allow from the tier", o, v.calls.Load())
		}
	})
}

func TestAnIdPErrorIsNeverSharedOnAFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tier := newMemTier(5 * time.Second)
		v := &gatedValidator{gate: make(chan struct{})}
		v.fail.Store(true)
		a, b := newReplica(t, v, tier), newReplica(t, v, tier)
		defer a.Close()
		defer b.Close()

		atA := outcomeOf(a, "opaque-2")
		synctest.Wait()
		atB := outcomeOf(b, "opaque-2")
		synctest.Wait()
		close(v.gate)
		if o := <-atA; o != Error {
			t.Fatalf("A with the IdP down: %v, want error", o)
		}
		// B saw the lease end with no verdict: it judged for itself.
		if o := <-atB; o != Error || v.calls.Load() != 2 {
			t.Errorf("B after A's error: %v after %d validations, want its own judgement (error, 2)", o, v.calls.Load())
		}
		if _, ok := tier.Get(context.Background(), "opaque-2", "corp"); ok {
			t.Error("an IdP error was shared")
		}
		v.fail.Store(false)
		if o := <-outcomeOf(b, "opaque-2"); o != Allow {
			t.Errorf("the IdP back: %v, want allow (the error was not kept)", o)
		}
	})
}

// A lease whose holder never answers ends: the waiter judges for itself
// after the lease, not before, and not never.
func TestAWaiterOutlastsADeadHoldersLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tier := newMemTier(2 * time.Second)
		stuck := &gatedValidator{gate: make(chan struct{})} // A's IdP, silent past the lease
		open := &gatedValidator{gate: make(chan struct{})}
		close(open.gate)
		a, b := newReplica(t, stuck, tier), newReplica(t, open, tier)
		defer a.Close()
		defer b.Close()
		atA := outcomeOf(a, "opaque-3")
		synctest.Wait()
		start := time.Now()
		if o := <-outcomeOf(b, "opaque-3"); o != Allow {
			t.Errorf("B past a dead holder's lease: %v", o)
		}
		if waited := time.Since(start); waited < 2*time.Second || waited > 3*time.Second {
			t.Errorf("B judged after %v, want once the 2 s lease ended", waited)
		}
		close(stuck.gate) // A's validation ends (a flight outlives its caller's context)
		<-atA
	})
}

package rediscache_test

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/rediscache"
	"github.com/authz-dev/authz/internal/redistest"
)

// The shared tier against a real redis-server: what it stores and for how
// long, purges and their tombstones, leases, first uses and step values,
// and a Redis that is gone. The server's suite keeps replicas sharing
// verdicts through it.

const salt = "0123456789abcdef-deployment-salt"

func newCache(t *testing.T, r *redistest.Server, edit func(*rediscache.Options)) *rediscache.Cache {
	t.Helper()
	opts := rediscache.Options{Addrs: []string{r.Addr}, Salt: []byte(salt), Timeout: time.Second}
	if edit != nil {
		edit(&opts)
	}
	c, err := rediscache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func entry(judged, until time.Time) authz.SharedEntry {
	return authz.SharedEntry{Result: &authz.Result{Validator: "corp", Claims: map[string]any{"sub": "alice"}, Expiry: until},
		Until: until, Fingerprint: "f", Judged: judged}
}

// recorder collects what a cache reports, safe for its goroutines.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.got = append(r.got, s); r.mu.Unlock() }
func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// An entry lives in Redis no longer than its Until, under a key that is
// no spelling of the token, sealed so the dump holds neither the token
// nor its claims; another token or scope is a miss.
func TestEntriesLiveUntilTheirUntilAndHoldNoSecret(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	c := newCache(t, r, nil)
	ctx := context.Background()
	const tok = "eyJ.secret-token.sig"
	c.Set(ctx, tok, "corp", entry(time.Now(), time.Now().Add(2*time.Second)))
	c.Set(ctx, "expired-token", "corp", entry(time.Now(), time.Now().Add(-time.Second)))
	e, ok := c.Get(ctx, tok, "corp")
	if !ok || e.Result.Claims["sub"] != "alice" || e.Fingerprint != "f" {
		t.Fatalf("Get = %+v, %v", e, ok)
	}
	for name, got := range map[string]bool{"another token": hit(c, "other", "corp"), "another scope": hit(c, tok, "billing"), "an entry past its Until": hit(c, "expired-token", "corp")} {
		if got {
			t.Errorf("%s: a hit", name)
		}
	}
	rdb := r.Client()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v (%v), want the one entry", keys, err)
	}
	if ttl := rdb.PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("the entry's Redis TTL is %v, want at most its Until (2s)", ttl)
	}
	value := rdb.Get(ctx, keys[0]).Val()
	for _, secret := range []string{tok, "secret-token", "alice"} {
		if strings.Contains(keys[0], secret) || strings.Contains(value, secret) {
			t.Errorf("Redis holds %q in the clear", secret)
		}
	}
}

func hit(c *rediscache.Cache, token, scope string) bool {
	_, ok := c.Get(context.Background(), token, scope)
	return ok
}

// A purge deletes the entry, tells every subscribed replica the token's
// SHA-256, and leaves a tombstone: a verdict judged before it and written
// after it (a replica that was mid-validation, or a sealed value
// replayed) is never read back; one judged after it is.
func TestAPurgedVerdictIsNotWrittenBack(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	c, other := newCache(t, r, nil), newCache(t, r, nil)
	dropped := make(chan [sha256.Size]byte, 1)
	other.Subscribe(func(sum [sha256.Size]byte) { dropped <- sum })
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	c.Set(ctx, "tok", "corp", entry(before, time.Now().Add(time.Hour)))
	if !hit(other, "tok", "corp") {
		t.Fatal("the entry was not shared")
	}
	// The subscription is asynchronous: purge until the other replica has
	// heard one (a purge reaching no subscriber yet reports 0 receivers).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, err := c.Purge(ctx, "tok", []string{"corp"})
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no replica subscribed to purges")
		}
	}
	select {
	case sum := <-dropped:
		if sum != sha256.Sum256([]byte("tok")) {
			t.Errorf("the purge named %x", sum)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other replica never heard of the purge")
	}
	c.Set(ctx, "tok", "corp", entry(before, time.Now().Add(time.Hour))) // late, judged before the purge
	if hit(c, "tok", "corp") {
		t.Error("a verdict judged before the purge was read back after it")
	}
	if c.Faults() != 0 {
		t.Errorf("the tombstone counted %d faults", c.Faults())
	}
	time.Sleep(5 * time.Millisecond) // judged strictly after the purge, at ms precision
	c.Set(ctx, "tok", "corp", entry(time.Now(), time.Now().Add(time.Hour)))
	if !hit(c, "tok", "corp") {
		t.Error("a verdict judged after the purge is not shared")
	}
}

// One replica holds a token's lease at a time; it is counted when released
// for what its holder did (led when it judged, followed when it found the
// last holder's verdict), and a waiting replica follows the holder's
// verdict, or learns the holder gave up, or waits no longer than a lease.
func TestLeases(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	ctx := context.Background()
	var leader, follower recorder
	a := newCache(t, r, func(o *rediscache.Options) { o.Lease, o.OnLease = 10*time.Second, leader.add })
	b := newCache(t, r, func(o *rediscache.Options) { o.Lease, o.OnLease = 10*time.Second, follower.add })

	for _, judged := range []bool{false, true} {
		release, held := a.Lease(ctx, "a-token", "corp")
		if held {
			t.Fatal("a free lease reads as held")
		}
		if _, held := b.Lease(ctx, "a-token", "corp"); !held {
			t.Fatal("a taken lease reads as free")
		}
		release(judged)
	}
	if got := leader.list(); !slices.Equal(got, []string{"followed", "led"}) {
		t.Errorf("leases counted %v, want [followed led]", got)
	}

	t.Run("the holder's verdict is followed", func(t *testing.T) {
		asked := time.Now()
		release, _ := a.Lease(ctx, "followed", "corp")
		got := make(chan bool, 1)
		go func() { _, ok := b.Await(ctx, "followed", "corp", asked); got <- ok }()
		time.Sleep(20 * time.Millisecond) // a few polls of an unanswered lease
		a.Set(ctx, "followed", "corp", entry(time.Now(), time.Now().Add(time.Hour)))
		release(true)
		if !<-got {
			t.Error("the waiting replica did not take the holder's verdict")
		}
	})
	t.Run("a holder that gives up is abandoned", func(t *testing.T) {
		release, _ := a.Lease(ctx, "abandoned", "corp")
		got := make(chan bool, 1)
		go func() { _, ok := b.Await(ctx, "abandoned", "corp", time.Now()); got <- ok }()
		time.Sleep(20 * time.Millisecond)
		release(true) // judged, but an error is never shared: no entry
		if <-got {
			t.Error("a verdict was found where the holder left none")
		}
	})
	short := newCache(t, r, func(o *rediscache.Options) { o.Lease, o.OnLease = 200*time.Millisecond, follower.add })
	t.Run("a wait lasts no longer than a lease", func(t *testing.T) {
		if _, held := a.Lease(ctx, "waited-out", "corp"); held {
			t.Fatal("a free lease reads as held")
		}
		start := time.Now()
		if _, ok := short.Await(ctx, "waited-out", "corp", start); ok {
			t.Error("a verdict was found where the holder left none")
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Errorf("waited %v on a 200ms lease", waited)
		}
	})
	if got := follower.list(); !slices.Equal(got, []string{"followed", "abandoned", "waited_out"}) {
		t.Errorf("waits counted %v, want [followed abandoned waited_out]", got)
	}
}

// Replicas racing on one key get one first use between them (a DPoP
// proof's jti seen once across the fleet).
func TestFirstUseIsOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	replicas := []*rediscache.Cache{newCache(t, r, nil), newCache(t, r, nil), newCache(t, r, nil)}
	var first atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := replicas[i%len(replicas)].FirstUse(context.Background(), "jti:abc", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				first.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := first.Load(); got != 1 {
		t.Errorf("%d first uses of one key among 30 racing calls, want 1", got)
	}
}

// A step value (an exchanged token) is sealed like a verdict, lasts until
// its end, and a replica waiting on the lease holder gets it.
func TestStepValues(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := newCache(t, r, func(o *rediscache.Options) { o.Lease = 10 * time.Second })
	b := newCache(t, r, func(o *rediscache.Options) { o.Lease = 10 * time.Second })
	ctx := context.Background()
	release, _ := a.Lease(ctx, "client-token", "exchange")
	got := make(chan string, 1)
	go func() { v, _, _ := b.AwaitStepValue(ctx, "client-token", "exchange"); got <- v }()
	until := time.Now().Add(time.Minute)
	if err := a.SetStepValue(ctx, "client-token", "exchange", "issued-for-upstream", until); err != nil {
		t.Fatal(err)
	}
	release(true)
	if v := <-got; v != "issued-for-upstream" {
		t.Errorf("the waiting replica got %q", v)
	}
	if v, u, ok, err := b.StepValue(ctx, "client-token", "exchange"); err != nil || !ok || v != "issued-for-upstream" || !u.Equal(until.Truncate(time.Millisecond)) {
		t.Errorf("StepValue = %q, %v, %v, %v", v, u, ok, err)
	}
	if _, _, ok, _ := b.StepValue(ctx, "another-token", "exchange"); ok {
		t.Error("another token's step value was found")
	}
	rdb := r.Client()
	for _, k := range rdb.Keys(ctx, "*").Val() {
		v := rdb.Get(ctx, k).Val()
		if strings.Contains(k+v, "client-token") || strings.Contains(k+v, "issued-for-upstream") {
			t.Errorf("Redis holds a token in the clear under %s", k)
		}
	}
}

// Redis gone is a fault, counted and reported, and a miss: the replica
// judges for itself.
func TestAFaultIsAMiss(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	var faults recorder
	c := newCache(t, r, func(o *rediscache.Options) { o.Timeout, o.OnFault = 200*time.Millisecond, faults.add })
	ctx := context.Background()
	c.Set(ctx, "tok", "corp", entry(time.Now(), time.Now().Add(time.Hour)))
	r.Stop()
	if hit(c, "tok", "corp") {
		t.Error("a hit from a Redis that is gone")
	}
	if _, err := c.FirstUse(ctx, "jti:x", time.Minute); err == nil {
		t.Error("FirstUse without Redis reported no error")
	}
	if c.Faults() < 2 || !slices.Contains(faults.list(), "get") || !slices.Contains(faults.list(), "set_nx") {
		t.Errorf("faults %d %v, want get and set_nx", c.Faults(), faults.list())
	}
}

package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The tests run in synctest bubbles: TTLs, refresh-ahead times and expiry
// pass on the bubble's clock, so they take no wall time and no CPU load can
// move a deadline; synctest.Wait is "every goroutine has blocked", where a
// sleep would be a guess.

func newCache(t *testing.T, maxBytes int64) *Cache[string] {
	t.Helper()
	c, err := New[string](Options{MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestConcurrentLoadsOfOneKeyRunOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, 1<<20)
		release := make(chan struct{})
		var loads atomic.Int64
		load := func(context.Context) (Loaded[string], error) {
			loads.Add(1)
			<-release
			return Loaded[string]{Value: "v", Cost: 10, TTL: time.Minute}, nil
		}
		const n = 100
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if v, _, err := c.Load(context.Background(), "k", load); err != nil || v != "v" {
					t.Errorf("got %q, %v", v, err)
				}
			}()
		}
		synctest.Wait() // every caller is waiting on the one load
		if w := c.Stats().Waiting; w != n {
			t.Errorf("%d callers counted waiting on the flight, want %d", w, n)
		}
		close(release)
		wg.Wait()
		if w := c.Stats().Waiting; w != 0 {
			t.Errorf("%d callers still counted waiting after the load", w)
		}
		if loads.Load() != 1 {
			t.Errorf("%d loads for %d concurrent callers, want 1", loads.Load(), n)
		}
		if s := c.Stats(); s.Loads != 1 || s.Collapsed != n-1 {
			t.Errorf("stats %+v", s)
		}
		if _, hit, _ := c.Load(context.Background(), "k", load); !hit {
			t.Error("the loaded value was not stored")
		}
	})
}

func TestErrorsAreNeverStored(t *testing.T) {
	c := newCache(t, 1<<20)
	boom := errors.New("idp down")
	calls := 0
	load := func(context.Context) (Loaded[string], error) {
		calls++
		return Loaded[string]{}, boom
	}
	for range 3 {
		if _, _, err := c.Load(context.Background(), "k", load); !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
	}
	if calls != 3 {
		t.Errorf("%d loads, want 3: an error must not be cached", calls)
	}
}

func TestZeroTTLIsNotStoredAndTTLExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, 1<<20)
		c.Load(context.Background(), "zero", func(context.Context) (Loaded[string], error) {
			return Loaded[string]{Value: "v", TTL: 0}, nil
		})
		if _, ok := c.Get("zero"); ok {
			t.Error("a zero TTL was stored")
		}
		c.Store("short", "v", 1, 50*time.Millisecond)
		if _, ok := c.Get("short"); !ok {
			t.Fatal("Store is not visible to Get")
		}
		time.Sleep(2 * time.Second) // ristretto expires on a one-second bucket
		if _, ok := c.Get("short"); ok {
			t.Error("an expired entry is still served")
		}
	})
}

// TestACallerGivingUpDoesNotFailTheLoad: a waiter whose context ends
// leaves at once; the leader, which runs the load on its own goroutine,
// finishes it under a context that its caller's cancellation does not
// reach, and the result is stored for everyone.
func TestACallerGivingUpDoesNotFailTheLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, 1<<20)
		started, release := make(chan struct{}), make(chan struct{})
		var loadCtxErr atomic.Value
		load := func(ctx context.Context) (Loaded[string], error) {
			close(started)
			<-release
			loadCtxErr.Store(ctx.Err() != nil)
			return Loaded[string]{Value: "v", Cost: 1, TTL: time.Minute}, nil
		}
		leaderCtx, cancelLeader := context.WithCancel(context.Background())
		leader := make(chan error, 1)
		go func() { _, _, err := c.Load(leaderCtx, "k", load); leader <- err }()
		<-started

		waiterCtx, cancelWaiter := context.WithCancel(context.Background())
		waiter := make(chan error, 1)
		go func() { _, _, err := c.Load(waiterCtx, "k", load); waiter <- err }()
		synctest.Wait() // the waiter has joined the flight
		cancelWaiter()
		if err := <-waiter; !errors.Is(err, context.Canceled) {
			t.Errorf("the impatient waiter got %v", err)
		}
		cancelLeader()
		close(release)
		if err := <-leader; err != nil {
			t.Errorf("the leader got %v after finishing its load", err)
		}
		v, hit, err := c.Load(context.Background(), "k", load)
		if err != nil || v != "v" || !hit || loadCtxErr.Load() != false {
			t.Errorf("got %q hit=%v %v; the load saw a cancelled context: %v", v, hit, err, loadCtxErr.Load())
		}
	})
}

func TestCostIsBounded(t *testing.T) {
	const maxBytes = 1 << 20
	c := newCache(t, maxBytes)
	for i := range 20000 {
		c.Store(string(rune(i))+"-key", "v", 1024, time.Minute)
	}
	if s := c.Stats(); s.Cost > maxBytes {
		t.Errorf("cost %d over max_bytes %d", s.Cost, maxBytes)
	}
	if _, err := New[string](Options{}); err == nil {
		t.Error("a cache without a bound was created")
	}
}

// refreshingCache is a cache that refreshes in the last half of a TTL and
// counts the refreshes that failed.
func refreshingCache(t *testing.T) (*Cache[string], *atomic.Int64) {
	t.Helper()
	var refreshErrs atomic.Int64
	c, err := New[string](Options{MaxBytes: 1 << 20, RefreshAhead: 0.5, OnRefresh: func(err error) {
		if err != nil {
			refreshErrs.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, &refreshErrs
}

func TestRefreshAhead(t *testing.T) {
	ctx := context.Background()
	t.Run("one refresh serves many hits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, _ := refreshingCache(t)
			var loads atomic.Int64
			release := make(chan struct{})
			answer := "v1"
			load := func(ctx context.Context) (Loaded[string], error) {
				if loads.Add(1) > 1 {
					if !Refreshing(ctx) {
						t.Error("a refresh does not say so to its loader")
					}
					<-release
				}
				return Loaded[string]{Value: answer, Cost: 1, TTL: 3 * time.Second, Refresh: true}, nil
			}
			c.Load(ctx, "k", load)
			time.Sleep(1400 * time.Millisecond) // still in the first half of the TTL
			if v, hit, _ := c.Load(ctx, "k", load); !hit || v != "v1" || loads.Load() != 1 {
				t.Fatalf("early hit: %q %v, %d loads", v, hit, loads.Load())
			}
			time.Sleep(200 * time.Millisecond) // into the last half
			answer = "v2"
			for range 100 {
				// Served from the cache while the one refresh waits on its source.
				if v, hit, _ := c.Load(ctx, "k", load); !hit || v != "v1" {
					t.Fatalf("during the refresh: %q %v", v, hit)
				}
			}
			close(release)
			synctest.Wait()
			if v, hit, _ := c.Load(ctx, "k", load); !hit || v != "v2" {
				t.Errorf("after the refresh: %q %v", v, hit)
			}
			if n := loads.Load(); n != 2 {
				t.Errorf("%d loads, want 2: one refresh for 100 hits", n)
			}
		})
	})
	t.Run("a failed refresh keeps the entry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, refreshErrs := refreshingCache(t)
			c.Load(ctx, "f", func(context.Context) (Loaded[string], error) {
				return Loaded[string]{Value: "old", Cost: 1, TTL: 2 * time.Second, Refresh: true}, nil
			})
			time.Sleep(1100 * time.Millisecond)
			failing := func(context.Context) (Loaded[string], error) { return Loaded[string]{}, errors.New("idp down") }
			if v, hit, _ := c.Load(ctx, "f", failing); !hit || v != "old" {
				t.Fatalf("%q %v", v, hit)
			}
			synctest.Wait()
			if refreshErrs.Load() != 1 {
				t.Fatalf("refresh errors %d", refreshErrs.Load())
			}
			if v, hit, _ := c.Load(ctx, "f", failing); !hit || v != "old" {
				t.Errorf("after the failed refresh: %q %v", v, hit)
			}
			time.Sleep(time.Second) // ristretto expires on a one-second bucket
			if _, ok := c.Get("f"); ok {
				t.Error("the entry outlived its TTL after a failed refresh")
			}
		})
	})
	t.Run("a refresh that must not be stored drops the entry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, _ := refreshingCache(t)
			c.Load(ctx, "d", func(context.Context) (Loaded[string], error) {
				return Loaded[string]{Value: "active", Cost: 1, TTL: 2 * time.Second, Refresh: true}, nil
			})
			time.Sleep(1100 * time.Millisecond)
			inactive := func(context.Context) (Loaded[string], error) { return Loaded[string]{Value: "inactive", TTL: 0}, nil }
			c.Load(ctx, "d", inactive)
			synctest.Wait()
			if _, ok := c.Get("d"); ok {
				t.Error("an inactive answer did not replace the entry")
			}
		})
	})
}

// TestExpiryDuringARefresh: an entry that expires while its refresh waits
// on the source makes the next caller join that refresh, and get its value.
func TestExpiryDuringARefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New[string](Options{MaxBytes: 1 << 20, RefreshAhead: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var loads atomic.Int64
		release := make(chan struct{})
		load := func(ctx context.Context) (Loaded[string], error) {
			if loads.Add(1) > 1 {
				<-release
				return Loaded[string]{Value: "v2", Cost: 1, TTL: time.Minute, Refresh: true}, nil
			}
			return Loaded[string]{Value: "v1", Cost: 1, TTL: time.Second, Refresh: true}, nil
		}
		ctx := context.Background()
		c.Load(ctx, "k", load)
		time.Sleep(600 * time.Millisecond)
		if v, hit, _ := c.Load(ctx, "k", load); !hit || v != "v1" { // starts the refresh
			t.Fatalf("late hit: %q %v", v, hit)
		}
		time.Sleep(600 * time.Millisecond) // the entry expires; the refresh still waits
		got := make(chan string, 1)
		go func() {
			v, _, err := c.Load(ctx, "k", load)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		synctest.Wait() // the caller has joined the refresh's flight
		close(release)
		if v := <-got; v != "v2" {
			t.Fatalf("the caller that joined the refresh got %q", v)
		}
		if n := loads.Load(); n != 2 {
			t.Errorf("%d loads, want 2", n)
		}
	})
}

// A load that panics — on a Check's goroutine, in a flight or in a
// background refresh — is an error for its callers and a report, never a
// crash; the next load runs as usual.
func TestAPanickingLoadIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type report struct{ where string }
		panics := make(chan report, 4)
		refreshed := make(chan error, 1)
		c, err := New[string](Options{MaxBytes: 1 << 20, RefreshAhead: 0.999,
			OnPanic:   func(where string, _ any, stack []byte) { panics <- report{where} },
			OnRefresh: func(err error) { refreshed <- err }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		boom := func(context.Context) (Loaded[string], error) { panic("validator bug") }
		if _, _, err := c.Load(ctx, "k", boom); !errors.Is(err, ErrPanic) {
			t.Fatalf("a panicking load: %v", err)
		}
		if r := <-panics; r.where != "flight" {
			t.Errorf("reported where %q", r.where)
		}
		good := func(context.Context) (Loaded[string], error) {
			return Loaded[string]{Value: "v", Cost: 1, TTL: time.Minute, Refresh: true}, nil
		}
		if v, _, err := c.Load(ctx, "k", good); err != nil || v != "v" {
			t.Fatalf("the next load: %q %v", v, err)
		}
		// 0.999 of a minute is refresh-ahead time after 60 ms: the next hit
		// refreshes in the background, and that load panics.
		time.Sleep(100 * time.Millisecond)
		if v, hit, err := c.Load(ctx, "k", boom); !hit || v != "v" || err != nil {
			t.Fatalf("a hit while refreshing: %q %v %v", v, hit, err)
		}
		synctest.Wait()
		select {
		case err := <-refreshed:
			if !errors.Is(err, ErrPanic) {
				t.Errorf("the refresh ended with %v", err)
			}
		default:
			t.Fatal("no refresh ran")
		}
		if r := <-panics; r.where != "refresh" {
			t.Errorf("reported where %q", r.where)
		}
		if v, hit, _ := c.Load(ctx, "k", good); !hit || v != "v" {
			t.Errorf("after the refresh's panic the entry is %q %v", v, hit)
		}
	})
}

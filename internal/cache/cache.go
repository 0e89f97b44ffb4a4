// Package cache holds validation results in memory, bounded in bytes, and
// collapses concurrent look-ups of one key into one load.
package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Options configure a Cache.
type Options struct {
	// MaxBytes bounds the summed cost of the entries.
	MaxBytes int64
	// RefreshAhead is the last part of an entry's TTL (0.1: the last 10%)
	// during which a hit on an entry loaded with Loaded.Refresh starts one
	// load in the background, so hot entries are replaced before they
	// expire and no caller waits; 0 disables.
	RefreshAhead float64
	// OnRefresh, when set, is told how each background load ended.
	OnRefresh func(err error)
	// OnPanic, when set, is told of a load that panicked (where: "flight"
	// or "refresh"), with its stack; the load's callers get ErrPanic.
	OnPanic func(where string, recovered any, stack []byte)
}

// ErrPanic marks a load that panicked: its callers get an error, never a
// value, and the process goes on.
var ErrPanic = errors.New("load panicked")

// maxRefreshes bounds the background loads in flight; past it, entries
// simply expire and are loaded by the next caller, as without refresh.
const maxRefreshes = 64

// Cache is a read-through cache: Load returns a cached value or runs one
// load for every concurrent caller of the same key.
type Cache[V any] struct {
	store     *ristretto.Cache[string, *entry[V]]
	group     singleflight.Group
	loads     atomic.Int64
	waiting   atomic.Int64 // callers in a flight now, leading or waiting
	collapsed atomic.Int64

	onPanic    func(where string, recovered any, stack []byte)
	refreshCfg atomic.Pointer[refreshSettings]
	refreshing chan struct{} // a slot per background load
	mu         sync.Mutex    // orders refreshes.Add before Close's Wait
	refreshes  sync.WaitGroup
	closed     bool
}

type refreshSettings struct {
	ahead     float64
	onRefresh func(error)
}

// entry is a stored value and, for refresh ahead, when it starts to be due.
type entry[V any] struct {
	v         V
	refreshAt time.Time // zero: never refreshed ahead
	started   atomic.Bool
}

// entryOverhead is what an entry costs beyond its value: ristretto's item
// in its store map, its policy and expiry bookkeeping, and the result and
// verdict structs around the claims, and the entry that holds the verdict.
const entryOverhead = 368

// chargeFor turns an entry's live bytes into its cost. Cached entries are
// long-lived small objects among short-lived garbage; under churn the holes
// they leave in the heap's spans measured 40% on top of the live bytes
// (BenchmarkMillionTokens), and that memory is as unavailable as the live
// bytes, so max_bytes bounds both.
func chargeFor(liveBytes int64) int64 { return (liveBytes + entryOverhead) * 7 / 5 }

// New returns an empty cache bounded by opts.MaxBytes.
func New[V any](opts Options) (*Cache[V], error) {
	if opts.MaxBytes <= 0 {
		return nil, fmt.Errorf("cache max_bytes must be positive, got %d", opts.MaxBytes)
	}
	// ristretto wants ~10 counters per entry it may hold; entries are
	// rarely under ~1 KiB (a hash key plus decoded claims).
	counters := max(opts.MaxBytes/100, 1000)
	store, err := ristretto.NewCache(&ristretto.Config[string, *entry[V]]{
		NumCounters:        counters,
		MaxCost:            opts.MaxBytes,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	c := &Cache[V]{store: store, refreshing: make(chan struct{}, maxRefreshes), onPanic: opts.OnPanic}
	c.SetRefresh(opts.RefreshAhead, opts.OnRefresh)
	return c, nil
}

// SetRefresh changes refresh ahead (a reload); entries stored before keep
// the refresh time they were given.
func (c *Cache[V]) SetRefresh(ahead float64, onRefresh func(error)) {
	c.refreshCfg.Store(&refreshSettings{ahead: ahead, onRefresh: onRefresh})
}

// Loaded is what a load function returns: the value and how to store it.
// A TTL of zero or less means "do not store".
type Loaded[V any] struct {
	Value V
	Cost  int64
	TTL   time.Duration
	// Refresh asks for the entry to be loaded again ahead of its expiry
	// when it is hit late in its TTL (see Options.RefreshAhead).
	Refresh bool
}

type refreshKey struct{}

// Refreshing reports whether a load runs ahead of its entry's expiry, in
// the background: the loader must then ask the source itself, not a
// shared copy of what is about to expire.
func Refreshing(ctx context.Context) bool { return ctx.Value(refreshKey{}) != nil }

// Load returns the value for key, calling load at most once for all callers
// that ask for the same key at the same time, on first sight and on expiry
// alike. load runs detached from the caller's cancellation so one impatient
// caller does not fail the others; it must bound its own time. A waiter
// leaves when its context ends; the leader, which runs load itself, returns
// when load does. An error from load is returned to every waiter and
// nothing is stored.
func (c *Cache[V]) Load(ctx context.Context, key string, load func(context.Context) (Loaded[V], error)) (v V, hit bool, err error) {
	if e, ok := c.store.Get(key); ok {
		if !e.refreshAt.IsZero() && time.Now().After(e.refreshAt) && e.started.CompareAndSwap(false, true) {
			c.refresh(ctx, key, load)
		}
		return e.v, true, nil
	}
	// The flight's load runs on the leading caller's own goroutine when it
	// can: singleflight starts a fresh goroutine per flight, and growing a
	// fresh stack through a signature verification cost a fifth of a JWT
	// miss in profiles. Should the leader leave first (its context ended),
	// the flight's goroutine loads instead, so the waiters still get an
	// answer.
	run := func() (any, error) {
		// A flight that finished just before ours may have stored the value.
		if e, ok := c.store.Get(key); ok {
			return e.v, nil
		}
		c.loads.Add(1)
		l, err := c.guard("flight", load)(context.WithoutCancel(ctx))
		if err != nil {
			return l.Value, err
		}
		c.set(key, l)
		return l.Value, nil
	}
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	lead := make(chan chan flightResult)
	gone := make(chan struct{})
	ch := c.group.DoChan(key, func() (any, error) {
		res := make(chan flightResult, 1)
		select {
		case lead <- res:
			r := <-res
			return r.v, r.err
		case <-gone:
			return run()
		}
	})
	led := false
	select {
	case res := <-lead:
		led = true
		v, err := run()
		res <- flightResult{v, err}
	case <-ctx.Done():
		close(gone)
		return v, false, ctx.Err()
	case r := <-ch:
		return c.answered(r, led)
	}
	return c.answered(<-ch, led)
}

type flightResult struct {
	v   any
	err error
}

func (c *Cache[V]) answered(r singleflight.Result, led bool) (v V, hit bool, err error) {
	// singleflight marks the leader's result shared too; only the callers
	// that waited on another's flight were collapsed.
	if r.Shared && !led {
		c.collapsed.Add(1)
	}
	if r.Err != nil {
		return v, false, r.Err
	}
	val, ok := r.Val.(V)
	if !ok {
		// Never expected; an error outcome rather than a crash if it is.
		return v, false, errors.New("cache: a load returned no value")
	}
	return val, false, nil
}

// set stores a loaded value; a TTL of zero or less drops the key.
func (c *Cache[V]) set(key string, l Loaded[V]) {
	if l.TTL <= 0 {
		c.store.Del(key)
		return
	}
	e := &entry[V]{v: l.Value}
	if ahead := c.refreshCfg.Load().ahead; l.Refresh && ahead > 0 {
		e.refreshAt = time.Now().Add(l.TTL - time.Duration(float64(l.TTL)*ahead))
	}
	c.put(key, e, chargeFor(l.Cost), l.TTL)
}

// put writes e and waits until a Get can see it. ristretto applies writes
// asynchronously; waiting here (only on a miss, never on the hit path)
// lets callers arriving after this load find the entry instead of starting
// another one. ristretto also drops a new key's write when its buffer is
// full (a burst on a loaded machine): a dropped verdict would be judged
// again, one more IdP call for the token, so a dropped write waits for the
// buffer to drain and is made again, a few times at most.
func (c *Cache[V]) put(key string, e *entry[V], cost int64, ttl time.Duration) {
	for range 3 {
		written := c.store.SetWithTTL(key, e, cost, ttl)
		c.store.Wait()
		if written {
			return
		}
	}
}

// refresh loads key again in the background, the cached value serving
// meanwhile. A failure keeps the entry until its TTL ends; a value that
// must not be stored (an inactive token) replaces it at once.
func (c *Cache[V]) refresh(ctx context.Context, key string, load func(context.Context) (Loaded[V], error)) {
	select {
	case c.refreshing <- struct{}{}:
	default:
		return // enough in flight: this entry expires and loads as usual
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.refreshing
		return
	}
	c.refreshes.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.refreshes.Done()
		defer func() { <-c.refreshing }()
		_, err, _ := c.group.Do(key, func() (any, error) {
			c.loads.Add(1)
			l, err := c.guard("refresh", load)(context.WithValue(context.WithoutCancel(ctx), refreshKey{}, true))
			if err == nil {
				c.set(key, l)
			}
			// A caller may have joined this flight: the entry expired while
			// the source was slow. It gets the refreshed value, typed.
			return l.Value, err
		})
		if f := c.refreshCfg.Load().onRefresh; f != nil {
			f(err)
		}
	}()
}

// guard runs load with its panics turned into ErrPanic and reported: a
// load runs validator code on a Check's goroutine, singleflight's or a
// refresh's, and none of them may take the process down.
func (c *Cache[V]) guard(where string, load func(context.Context) (Loaded[V], error)) func(context.Context) (Loaded[V], error) {
	return func(ctx context.Context) (l Loaded[V], err error) {
		defer func() {
			if r := recover(); r != nil {
				if c.onPanic != nil {
					c.onPanic(where, r, debug.Stack())
				}
				l, err = Loaded[V]{}, fmt.Errorf("%w (%s): %v", ErrPanic, where, r)
			}
		}()
		return load(ctx)
	}
}

// SetMaxBytes changes the bound (a reload); entries over it are evicted.
func (c *Cache[V]) SetMaxBytes(n int64) { c.store.UpdateMaxCost(n) }

// Get returns the value stored for key.
func (c *Cache[V]) Get(key string) (V, bool) {
	e, ok := c.store.Get(key)
	if !ok {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Store keeps v for ttl and waits until a Get can see it; it is for the
// miss path only.
func (c *Cache[V]) Store(key string, v V, liveBytes int64, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.put(key, &entry[V]{v: v}, chargeFor(liveBytes), ttl)
}

// Delete drops key.
func (c *Cache[V]) Delete(key string) { c.store.Del(key) }

// Stats are counters for metrics and tests.
type Stats struct {
	Loads     int64 // loads actually run
	Collapsed int64 // callers that shared another caller's load
	Hits      uint64
	Misses    uint64
	Evictions uint64
	Cost      int64 // cost currently held
	MaxBytes  int64 // the bound on Cost
	// Waiting are the callers in a flight now: waiting on a load, their
	// own or another's (a slow IdP shows here first).
	Waiting int64
}

// Stats returns the cache's counters.
func (c *Cache[V]) Stats() Stats {
	m := c.store.Metrics
	return Stats{
		Loads:     c.loads.Load(),
		Waiting:   c.waiting.Load(),
		Collapsed: c.collapsed.Load(),
		Hits:      m.Hits(),
		Misses:    m.Misses(),
		Evictions: m.KeysEvicted(),
		Cost:      c.store.MaxCost() - c.store.RemainingCost(),
		MaxBytes:  c.store.MaxCost(),
	}
}

// Close waits for background loads, then stops the cache's goroutines.
func (c *Cache[V]) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.refreshes.Wait()
	c.store.Close()
}

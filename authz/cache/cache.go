// Package cache holds validation results in memory, bounded in bytes, and
// collapses concurrent look-ups of one key into one load.
package cache

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Options configure a Cache.
type Options struct {
	// MaxBytes bounds the summed cost of the entries.
	MaxBytes int64
}

// Cache is a read-through cache: Load returns a cached value or runs one
// load for every concurrent caller of the same key.
type Cache[V any] struct {
	store     *ristretto.Cache[string, V]
	group     singleflight.Group
	loads     atomic.Int64
	collapsed atomic.Int64
}

// entryOverhead is what an entry costs beyond its value: ristretto's item
// in its store map, its policy and expiry bookkeeping, and the result and
// verdict structs around the claims.
const entryOverhead = 320

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
	store, err := ristretto.NewCache(&ristretto.Config[string, V]{
		NumCounters:        counters,
		MaxCost:            opts.MaxBytes,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	return &Cache[V]{store: store}, nil
}

// Loaded is what a load function returns: the value and how to store it.
// A TTL of zero or less means "do not store".
type Loaded[V any] struct {
	Value V
	Cost  int64
	TTL   time.Duration
}

// Load returns the value for key, calling load at most once for all callers
// that ask for the same key at the same time, on first sight and on expiry
// alike. load runs detached from the caller's cancellation so one impatient
// caller does not fail the others; it must bound its own time. An error from
// load is returned to every waiter and nothing is stored.
func (c *Cache[V]) Load(ctx context.Context, key string, load func(context.Context) (Loaded[V], error)) (v V, hit bool, err error) {
	if v, ok := c.store.Get(key); ok {
		return v, true, nil
	}
	led := false // set only in the caller whose function runs the flight
	ch := c.group.DoChan(key, func() (any, error) {
		led = true
		// A flight that finished just before ours may have stored the value.
		if v, ok := c.store.Get(key); ok {
			return v, nil
		}
		c.loads.Add(1)
		l, err := load(context.WithoutCancel(ctx))
		if err != nil {
			return l.Value, err
		}
		if l.TTL > 0 {
			c.store.SetWithTTL(key, l.Value, chargeFor(l.Cost), l.TTL)
			// ristretto applies writes asynchronously; waiting here (only on
			// a miss, never on the hit path) lets callers arriving after this
			// flight ends find the entry instead of starting another load.
			c.store.Wait()
		}
		return l.Value, nil
	})
	select {
	case r := <-ch:
		// singleflight marks the leader's result shared too; only the
		// callers that waited on another's flight were collapsed.
		if r.Shared && !led {
			c.collapsed.Add(1)
		}
		if r.Err != nil {
			return v, false, r.Err
		}
		return r.Val.(V), false, nil
	case <-ctx.Done():
		return v, false, ctx.Err()
	}
}

// SetMaxBytes changes the bound (a reload); entries over it are evicted.
func (c *Cache[V]) SetMaxBytes(n int64) { c.store.UpdateMaxCost(n) }

// Get returns the value stored for key.
func (c *Cache[V]) Get(key string) (V, bool) { return c.store.Get(key) }

// Store keeps v for ttl and waits until a Get can see it; it is for the
// miss path only.
func (c *Cache[V]) Store(key string, v V, liveBytes int64, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.store.SetWithTTL(key, v, chargeFor(liveBytes), ttl)
	c.store.Wait()
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
}

// Stats returns the cache's counters.
func (c *Cache[V]) Stats() Stats {
	m := c.store.Metrics
	return Stats{
		Loads:     c.loads.Load(),
		Collapsed: c.collapsed.Load(),
		Hits:      m.Hits(),
		Misses:    m.Misses(),
		Evictions: m.KeysEvicted(),
		Cost:      c.store.MaxCost() - c.store.RemainingCost(),
	}
}

// Close stops the cache's goroutines.
func (c *Cache[V]) Close() { c.store.Close() }

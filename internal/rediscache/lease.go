package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authz-dev/authz/authz"
)

// A replica waiting on another's lease looks for its verdict after
// firstPoll, then at twice the interval each time up to maxPoll: a fast IdP
// answer is taken within a millisecond or two, a slow one costs a few
// Redis round trips, never a stream of them.
const (
	firstPoll = time.Millisecond
	maxPoll   = 10 * time.Millisecond
)

// releaseLease deletes a lease only if it is still the caller's: a holder
// slower than its lease must not release the next holder's.
var releaseLease = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func (c *Cache) leaseKey(token, scope string) string {
	return c.opts.Prefix + "lease:" + lookupKey(c.opts.Salt, token, scope)
}

// Lease implements authz.SharedCache: SET NX PX of a random value on the
// token's lease key. A lease outlives a dead holder by Options.Lease at
// most. It is counted when released: led when this replica judged,
// followed when it found the last holder's verdict instead.
func (c *Cache) Lease(ctx context.Context, token, scope string) (release func(judged bool), held bool) {
	none := func(bool) {}
	if c.opts.Lease <= 0 {
		return none, false
	}
	var b [16]byte
	rand.Read(b[:])
	val, key := hex.EncodeToString(b[:]), c.leaseKey(token, scope)
	ctx, span := c.span(ctx, "SET NX lease")
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	ok, err := c.rdb.SetNX(ctx, key, val, c.opts.Lease).Result()
	switch {
	case err != nil:
		c.fault("lease", err)
		return none, false
	case !ok:
		return none, true
	}
	return func(judged bool) {
		if judged {
			c.observeLease("led")
		} else {
			c.observeLease("followed")
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		defer cancel()
		if err := releaseLease.Run(ctx, c.rdb, []string{key}, val).Err(); err != nil && !errors.Is(err, redis.Nil) {
			c.fault("lease", err)
		}
	}, false
}

// Await implements authz.SharedCache. It asks, every leasePoll, whether
// the lease is still held and then for the entry — in that order, so a
// holder that wrote its entry and released is never missed.
func (c *Cache) Await(ctx context.Context, token, scope string, after time.Time) (authz.SharedEntry, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Lease)
	defer cancel()
	key, lease := c.key(token, scope), c.leaseKey(token, scope)
	wait := time.NewTimer(firstPoll)
	defer wait.Stop()
	for next := firstPoll; ; next = min(2*next, maxPoll) {
		select {
		case <-ctx.Done():
			c.observeLease("waited_out")
			return authz.SharedEntry{}, false
		case <-wait.C:
			wait.Reset(min(2*next, maxPoll))
		}
		e, found, held, err := c.peek(ctx, key, lease, token)
		switch {
		case err != nil && ctx.Err() != nil:
			c.observeLease("waited_out")
			return authz.SharedEntry{}, false
		case err != nil:
			c.fault("lease", err)
			return authz.SharedEntry{}, false
		case found && e.Judged.After(after):
			c.observeLease("followed")
			return e, true
		case !held:
			// The holder is done and left nothing newer: it failed (an IdP
			// error is never shared).
			c.observeLease("abandoned")
			return authz.SharedEntry{}, false
		}
	}
}

// peek reads, in one round trip, whether the lease is held and the entry.
func (c *Cache) peek(ctx context.Context, key, lease, token string) (e authz.SharedEntry, found, held bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	exists := pipe.Exists(rctx, lease)
	get := pipe.Get(rctx, key)
	if _, err := pipe.Exec(rctx); err != nil && !errors.Is(err, redis.Nil) {
		return e, false, false, err
	}
	held = exists.Val() > 0
	b, err := get.Bytes()
	if err != nil {
		return e, false, held, nil // redis.Nil: no entry yet
	}
	e, err = open(c.opts.Salt, token, key, b)
	if err != nil || !time.Now().Before(e.Until) {
		return authz.SharedEntry{}, false, held, nil
	}
	return e, true, held, nil
}

func (c *Cache) observeLease(outcome string) {
	if c.opts.OnLease != nil {
		c.opts.OnLease(outcome)
	}
}

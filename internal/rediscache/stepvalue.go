package rediscache

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Step values are what a policy's upstream step made from a token — an
// exchanged token — shared by replicas so the fleet asks the
// authorization server once per token. They are named and sealed as
// verdicts are: by an HMAC of the token under the deployment's salt, and
// with a key derived from the token itself, so a Redis dump holds neither
// the client's token nor the one issued for it.

type stepPlain struct {
	Value string `json:"v"`
	Until int64  `json:"u"` // unix ms
}

func (c *Cache) stepKey(token, scope string) string {
	return c.opts.Prefix + "step:" + lookupKey(c.opts.Salt, token, scope)
}

// StepValue is the value a replica stored for token in scope, while it
// lasts. A fault is an error (the caller makes the value itself).
func (c *Cache) StepValue(ctx context.Context, token, scope string) (value string, until time.Time, found bool, err error) {
	key := c.stepKey(token, scope)
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return "", time.Time{}, false, nil
	case err != nil:
		c.fault("get", err)
		return "", time.Time{}, false, err
	}
	return c.openStep(token, key, b)
}

func (c *Cache) openStep(token, key string, b []byte) (string, time.Time, bool, error) {
	msg, err := openBytes(c.opts.Salt, token, key, b)
	if err != nil {
		c.fault("bad_value", err)
		return "", time.Time{}, false, nil
	}
	var p stepPlain
	if json.Unmarshal(msg, &p) != nil {
		return "", time.Time{}, false, nil
	}
	until := time.UnixMilli(p.Until)
	if !time.Now().Before(until) {
		return "", time.Time{}, false, nil
	}
	return p.Value, until, true, nil
}

// SetStepValue stores value for token in scope until until.
func (c *Cache) SetStepValue(ctx context.Context, token, scope, value string, until time.Time) error {
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil
	}
	key := c.stepKey(token, scope)
	msg, err := json.Marshal(stepPlain{Value: value, Until: until.UnixMilli()})
	if err != nil {
		return err
	}
	b, err := sealBytes(c.opts.Salt, token, key, msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if err := c.rdb.Set(ctx, key, b, ttl).Err(); err != nil {
		c.fault("set", err)
		return err
	}
	return nil
}

// AwaitStepValue waits, no longer than a lease lasts, for the value the
// holder of token's lease in scope stores; false when the lease ended
// without one or the wait ran out: make it here.
func (c *Cache) AwaitStepValue(ctx context.Context, token, scope string) (string, time.Time, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Lease)
	defer cancel()
	key, lease := c.stepKey(token, scope), c.leaseKey(token, scope)
	wait := time.NewTimer(firstPoll)
	defer wait.Stop()
	for next := firstPoll; ; next = min(2*next, maxPoll) {
		select {
		case <-ctx.Done():
			return "", time.Time{}, false
		case <-wait.C:
			wait.Reset(min(2*next, maxPoll))
		}
		rctx, rcancel := context.WithTimeout(ctx, c.opts.Timeout)
		pipe := c.rdb.Pipeline()
		exists := pipe.Exists(rctx, lease)
		get := pipe.Get(rctx, key)
		_, err := pipe.Exec(rctx)
		rcancel()
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", time.Time{}, false
		}
		if b, err := get.Bytes(); err == nil {
			if v, until, ok, _ := c.openStep(token, key, b); ok {
				return v, until, true
			}
		}
		if exists.Val() == 0 {
			return "", time.Time{}, false
		}
	}
}

// Package rediscache is the shared cache tier: validation results stored in
// Redis (or Valkey) so replicas share them, keyed by an HMAC of the token and
// sealed with a key derived from the token, so a dump of Redis reveals
// neither tokens nor claims.
package rediscache

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/authz-dev/authz/authz"
)

// Modes of deployment the tier rides.
const (
	ModeSingle   = "single"
	ModeCluster  = "cluster"
	ModeSentinel = "sentinel"
)

// Options configure the connection and the keys.
type Options struct {
	// Mode: ModeSingle (default), ModeCluster or ModeSentinel.
	Mode string
	// Addrs: the node (single), seed nodes (cluster) or sentinels.
	Addrs []string
	// MasterName names the Sentinel-monitored master.
	MasterName       string
	SentinelPassword string
	// ReadReplicas routes reads to replicas (cluster and sentinel); writes
	// and purges go to masters.
	ReadReplicas bool
	Username     string
	Password     string
	DB           int
	TLS          *tls.Config
	// Prefix starts every key and the purge channel (default "authz:").
	Prefix string
	// Timeout bounds every Redis call (default 50ms): a slow Redis must cost
	// less than the validation it would save.
	Timeout  time.Duration
	PoolSize int
	// Salt is the per-deployment secret under which lookup keys are made.
	Salt   []byte
	Logger *slog.Logger
	// OnFault, when set, is told of every fault by operation (get, set,
	// purge, publish, subscribe, bad_value).
	OnFault func(op string)
	// Tracer makes a span of each Redis call on a Check's path (default: none).
	Tracer trace.Tracer
	// Lease is how long one replica may judge a token alone while the
	// others wait for its verdict (lease.go); 0: every replica judges
	// for itself.
	Lease time.Duration
	// OnLease, when set, is told how each lease ended for this replica:
	// led, followed, waited_out, abandoned.
	OnLease func(outcome string)
}

// Cache is the Redis tier. It implements authz.SharedCache.
type Cache struct {
	rdb     redis.UniversalClient
	opts    Options
	faults  atomic.Int64
	lastLog atomic.Int64 // unix ns of the last fault logged
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

// faultLogInterval rate-limits fault logging: a Redis outage must not
// flood the logs with one line per Check.
const faultLogInterval = 10 * time.Second

// clientLog routes go-redis's own messages (Sentinel master switches,
// cluster state) into the process log at debug level, instead of plain
// lines on stderr beside the JSON log. go-redis keeps one logger per
// process, so the first Cache's logger is the one.
var clientLog sync.Once

type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// New connects lazily; a Redis that is down at start is a fault, not an error.
func New(opts Options) (*Cache, error) {
	if len(opts.Addrs) == 0 {
		return nil, errors.New("redis: no addresses")
	}
	if opts.Mode == "" {
		opts.Mode = ModeSingle
	}
	if len(opts.Salt) < 16 {
		return nil, errors.New("redis key salt must be at least 16 bytes")
	}
	if opts.Prefix == "" {
		opts.Prefix = "authz:"
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 50 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	clientLog.Do(func() { redis.SetLogger(slogPrintf{opts.Logger}) })
	uo := &redis.UniversalOptions{
		Addrs:        opts.Addrs,
		Username:     opts.Username,
		Password:     opts.Password,
		DB:           opts.DB,
		TLSConfig:    opts.TLS,
		DialTimeout:  opts.Timeout,
		ReadTimeout:  opts.Timeout,
		WriteTimeout: opts.Timeout,
		PoolTimeout:  opts.Timeout,
		PoolSize:     opts.PoolSize,
		// A retry doubles the time a faulty Redis costs a Check; the
		// validation it would save is the fallback anyway. (Cluster
		// redirections, MOVED and ASK, are followed all the same.)
		MaxRetries: -1,
	}
	switch opts.Mode {
	case ModeSingle:
		if len(opts.Addrs) != 1 {
			return nil, errors.New("redis: single mode takes one address")
		}
	case ModeCluster:
		if opts.DB != 0 {
			return nil, errors.New("redis: a cluster has no databases but 0")
		}
		uo.IsClusterMode = true
		uo.ReadOnly, uo.RouteRandomly = opts.ReadReplicas, opts.ReadReplicas
	case ModeSentinel:
		if opts.MasterName == "" {
			return nil, errors.New("redis: sentinel mode needs the master's name")
		}
		uo.MasterName, uo.SentinelPassword = opts.MasterName, opts.SentinelPassword
		// With replicas for reads, go-redis's sentinel-backed cluster
		// client sends writes to the master and reads to replicas.
		uo.ReadOnly, uo.RouteRandomly = opts.ReadReplicas, opts.ReadReplicas
	default:
		return nil, fmt.Errorf("redis: unknown mode %q", opts.Mode)
	}
	return &Cache{rdb: redis.NewUniversalClient(uo), opts: opts}, nil
}

// Faults counts faults seen.
func (c *Cache) Faults() int64 { return c.faults.Load() }

func (c *Cache) fault(op string, err error) {
	c.faults.Add(1)
	if c.opts.OnFault != nil {
		c.opts.OnFault(op)
	}
	now := time.Now().UnixNano()
	last := c.lastLog.Load()
	if now-last >= int64(faultLogInterval) && c.lastLog.CompareAndSwap(last, now) {
		c.opts.Logger.Warn("redis cache fault, validating without it", "op", op, "err", err, "faults", c.faults.Load())
	}
}

func (c *Cache) key(token, scope string) string {
	return c.opts.Prefix + "v1:" + lookupKey(c.opts.Salt, token, scope)
}

// Get implements authz.SharedCache.
func (c *Cache) Get(ctx context.Context, token, scope string) (authz.SharedEntry, bool) {
	ctx, span := c.span(ctx, "GET")
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	key := c.key(token, scope)
	// The entry and the purge's tombstone, in one round trip (two keys:
	// a pipeline, not MGET, which a cluster refuses across slots).
	pipe := c.rdb.Pipeline()
	entry, stone := pipe.Get(ctx, key), pipe.Get(ctx, c.tombstoneKey(token, scope))
	pipe.Exec(ctx) // errors are the commands'
	b, err := entry.Bytes()
	if errors.Is(err, redis.Nil) {
		return authz.SharedEntry{}, false
	}
	if err != nil {
		c.fault("get", err)
		return authz.SharedEntry{}, false
	}
	purged, err := stone.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		c.fault("get", err)
		return authz.SharedEntry{}, false
	}
	e, err := open(c.opts.Salt, token, key, b)
	if err != nil {
		// Not trusted, not an error: revalidate and overwrite it.
		c.fault("bad_value", err)
		return authz.SharedEntry{}, false
	}
	if !time.Now().Before(e.Until) {
		return authz.SharedEntry{}, false
	}
	if purged != 0 && e.Judged.UnixMilli() <= purged {
		// Judged before a purge and written after it (a replica that
		// was mid-validation, a replayed value): judge anew.
		return authz.SharedEntry{}, false
	}
	return e, true
}

// Set implements authz.SharedCache. The Redis TTL ends with the entry, so
// Redis never holds a result past the token's exp.
func (c *Cache) Set(ctx context.Context, token, scope string, e authz.SharedEntry) {
	ttl := time.Until(e.Until)
	if ttl < time.Millisecond {
		return
	}
	key := c.key(token, scope)
	b, err := seal(c.opts.Salt, token, key, e)
	if err != nil {
		c.fault("set", err)
		return
	}
	ctx, span := c.span(ctx, "SET")
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if err := c.rdb.Set(ctx, key, b, ttl).Err(); err != nil {
		c.fault("set", err)
	}
}

func (c *Cache) channel() string { return c.opts.Prefix + "purge" }

// Purge implements authz.SharedCache: it deletes the token's entries and
// publishes the token's SHA-256, which every replica's subscription turns
// into dropping its own in-memory entry.
func (c *Cache) Purge(ctx context.Context, token string, scopes []string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*c.opts.Timeout)
	defer cancel()
	keys := make([]string, len(scopes))
	for i, s := range scopes {
		keys[i] = c.key(token, s)
	}
	// One DEL and one tombstone per key, pipelined: in a cluster the keys
	// live in different slots, and a multi-key command across slots is
	// refused (CROSSSLOT). The tombstone makes Get refuse a verdict judged
	// before now that is written after it.
	pipe := c.rdb.Pipeline()
	now := time.Now().UnixMilli()
	for i, k := range keys {
		pipe.Del(ctx, k)
		pipe.Set(ctx, c.tombstoneKey(token, scopes[i]), now, TombstoneTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.fault("purge", err)
		return 0, fmt.Errorf("redis del: %w", err)
	}
	sum := sha256.Sum256([]byte(token))
	n, err := c.rdb.Publish(ctx, c.channel(), hex.EncodeToString(sum[:])).Result()
	if err != nil {
		c.fault("publish", err)
		return 0, fmt.Errorf("redis publish: %w", err)
	}
	return n, nil
}

// Subscribe calls drop with the SHA-256 of every token purged anywhere in
// the cluster, until Close. go-redis resubscribes after a reconnect.
func (c *Cache) Subscribe(drop func(tokenHash [sha256.Size]byte)) {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	sub := c.rdb.Subscribe(ctx, c.channel())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer sub.Close()
		ch := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-ch:
				if !ok {
					return
				}
				var sum [sha256.Size]byte
				if b, err := hex.DecodeString(msg.Payload); err == nil && len(b) == len(sum) {
					copy(sum[:], b)
					drop(sum)
				}
			}
		}
	}()
}

// Close stops the subscription and closes the connections.
func (c *Cache) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	c.rdb.Close()
}

// FirstUse records key (a hash, never a secret) until ttl ends and reports
// whether it was not there yet: SET NX, one round trip, so two replicas
// racing on the same key get one true between them.
func (c *Cache) FirstUse(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ctx, span := c.span(ctx, "SET NX")
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	ok, err := c.rdb.SetNX(ctx, c.opts.Prefix+key, 1, ttl).Result()
	if err != nil {
		c.fault("set_nx", err)
		return false, err
	}
	return ok, nil
}

func (c *Cache) span(ctx context.Context, op string) (context.Context, trace.Span) {
	return c.opts.Tracer.Start(ctx, "authz.redis "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "redis"), attribute.String("db.operation.name", op)))
}

// HashField reads one field of a Redis hash — an API-key store, written by
// the operator's tooling under the key as configured (no prefix) — within
// the tier's timeout. found is false for a missing field or hash.
func (c *Cache) HashField(ctx context.Context, key, field string) ([]byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	v, err := c.rdb.HGet(ctx, key, field).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return v, true, nil
}

package sender

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// SharedReplay is a replay set replicas share (the Redis tier): FirstUse
// records key until ttl ends and reports whether it was new.
type SharedReplay interface {
	FirstUse(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// ErrReplayFull says the replay set is at its bound: a proof that cannot
// be remembered is not accepted (an error, not a denial).
var ErrReplayFull = errors.New("dpop replay cache full")

// ErrKeyOverShare says one proof key has used its whole share of the
// replay set: its proofs are refused (a denial of that key alone), so one
// client cannot fill the set for everyone.
var ErrKeyOverShare = errors.New("dpop proof key over its share of the replay set")

// Replay remembers used proofs (by key thumbprint and jti) until they
// could no longer pass the iat check. Entries live in two generations of
// one span each, so every entry outlives its deadline without a per-entry
// timer, and the set never holds more than MaxEntries: when full, new
// proofs are refused rather than old ones forgotten early.
//
// No key may hold more than MaxPerKey entries: a client with its own valid
// token and key that sends proofs as fast as it can fills its share, and
// its next proofs are refused, while every other key's still fit.
type Replay struct {
	span       time.Duration
	maxEntries int
	maxPerKey  int
	shared     SharedReplay
	onFault    func(error)
	onFlood    func(jkt string, entries int)
	now        func() time.Time

	mu        sync.Mutex
	cur, prev map[[16]byte]struct{}
	// perKey counts each key's entries in cur and prev.
	curKeys, prevKeys map[[8]byte]int
	rotated           time.Time
	floodReported     time.Time
}

// ReplayOptions configure a Replay.
type ReplayOptions struct {
	// Span is the longest an entry must be kept: twice the iat window plus
	// leeway.
	Span       time.Duration
	MaxEntries int // default 1,000,000 (~100 MB)
	// MaxPerKey bounds one proof key's entries (default MaxEntries/16):
	// at 1,000,000 and a 130 s span, ~480 proofs a second from one key.
	MaxPerKey int
	// OnFlood is told, at most once a span, of a key refused for being
	// over its share (its thumbprint and entries), to count and log it.
	OnFlood func(jkt string, entries int)
	// Shared, when set, is asked too, so a proof used at one replica is a
	// replay at every other. A fault there leaves the local set to decide
	// and is reported to OnFault.
	Shared  SharedReplay
	OnFault func(error)
	Now     func() time.Time
}

// NewReplay returns an empty replay set.
func NewReplay(opts ReplayOptions) *Replay {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1_000_000
	}
	if opts.MaxPerKey <= 0 {
		opts.MaxPerKey = max(opts.MaxEntries/16, 1)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Replay{span: opts.Span, maxEntries: opts.MaxEntries, maxPerKey: opts.MaxPerKey, shared: opts.Shared,
		onFault: opts.OnFault, onFlood: opts.OnFlood, now: opts.Now,
		cur: map[[16]byte]struct{}{}, prev: map[[16]byte]struct{}{},
		curKeys: map[[8]byte]int{}, prevKeys: map[[8]byte]int{}, rotated: opts.Now()}
}

// FirstUse records the proof (jkt, jti), to be kept until until, and
// reports whether it had not been used before.
func (r *Replay) FirstUse(ctx context.Context, jkt, jti string, until time.Time) (bool, error) {
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	var id [16]byte
	copy(id[:], sum[:])
	keySum := sha256.Sum256([]byte(jkt))
	var key [8]byte
	copy(key[:], keySum[:])
	if first, err := r.local(id, key, jkt); err != nil || !first {
		return first, err
	}
	if r.shared != nil {
		ttl := max(until.Sub(r.now()), time.Second)
		first, err := r.shared.FirstUse(ctx, "dpop:"+hex.EncodeToString(sum[:16]), ttl)
		switch {
		case err != nil:
			if r.onFault != nil {
				r.onFault(err)
			}
		case !first:
			return false, nil
		}
	}
	return true, nil
}

func (r *Replay) local(id [16]byte, key [8]byte, jkt string) (bool, error) {
	r.mu.Lock()
	now := r.now()
	if now.Sub(r.rotated) >= r.span {
		r.prev, r.cur = r.cur, make(map[[16]byte]struct{}, len(r.cur))
		r.prevKeys, r.curKeys = r.curKeys, make(map[[8]byte]int, len(r.curKeys))
		if now.Sub(r.rotated) >= 2*r.span {
			// Idle for two spans: everything is past its deadline.
			clear(r.prev)
			clear(r.prevKeys)
		}
		r.rotated = now
	}
	if _, ok := r.cur[id]; ok {
		r.mu.Unlock()
		return false, nil
	}
	if _, ok := r.prev[id]; ok {
		r.mu.Unlock()
		return false, nil
	}
	if n := r.curKeys[key] + r.prevKeys[key]; n >= r.maxPerKey {
		report := r.onFlood != nil && now.Sub(r.floodReported) >= r.span
		if report {
			r.floodReported = now
		}
		r.mu.Unlock()
		if report {
			r.onFlood(jkt, n)
		}
		return false, ErrKeyOverShare
	}
	if len(r.cur)+len(r.prev) >= r.maxEntries {
		r.mu.Unlock()
		return false, ErrReplayFull
	}
	r.cur[id] = struct{}{}
	r.curKeys[key]++
	r.mu.Unlock()
	return true, nil
}

// Len reports how many proofs are remembered locally.
func (r *Replay) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cur) + len(r.prev)
}

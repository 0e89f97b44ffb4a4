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

// Replay remembers used proofs (by key thumbprint and jti) until they
// could no longer pass the iat check. Entries live in two generations of
// one span each, so every entry outlives its deadline without a per-entry
// timer, and the set never holds more than MaxEntries: when full, new
// proofs are refused rather than old ones forgotten early.
type Replay struct {
	span       time.Duration
	maxEntries int
	shared     SharedReplay
	onFault    func(error)
	now        func() time.Time

	mu        sync.Mutex
	cur, prev map[[16]byte]struct{}
	rotated   time.Time
}

// ReplayOptions configure a Replay.
type ReplayOptions struct {
	// Span is the longest an entry must be kept: twice the iat window plus
	// leeway.
	Span       time.Duration
	MaxEntries int // default 1,000,000 (~100 MB)
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Replay{span: opts.Span, maxEntries: opts.MaxEntries, shared: opts.Shared, onFault: opts.OnFault, now: opts.Now,
		cur: map[[16]byte]struct{}{}, prev: map[[16]byte]struct{}{}, rotated: opts.Now()}
}

// FirstUse records the proof (jkt, jti), to be kept until until, and
// reports whether it had not been used before.
func (r *Replay) FirstUse(ctx context.Context, jkt, jti string, until time.Time) (bool, error) {
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	var id [16]byte
	copy(id[:], sum[:])
	if first, err := r.local(id); err != nil || !first {
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

func (r *Replay) local(id [16]byte) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.rotated) >= r.span {
		r.prev, r.cur = r.cur, make(map[[16]byte]struct{}, len(r.cur))
		if now.Sub(r.rotated) >= 2*r.span {
			clear(r.prev) // idle for two spans: everything is past its deadline
		}
		r.rotated = now
	}
	if _, ok := r.cur[id]; ok {
		return false, nil
	}
	if _, ok := r.prev[id]; ok {
		return false, nil
	}
	if len(r.cur)+len(r.prev) >= r.maxEntries {
		return false, ErrReplayFull
	}
	r.cur[id] = struct{}{}
	return true, nil
}

// Len reports how many proofs are remembered locally.
func (r *Replay) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cur) + len(r.prev)
}

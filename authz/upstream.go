package authz

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/authz-dev/authz/internal/cache"
)

// Upstream is a step of what an allowed request forwards upstream beyond
// the claim headers: a signed identity token minted for the upstream, the
// IdP's signed introspection answer, a token exchanged in place of the
// client's. A policy's steps run in order after its claim headers, on
// every allow, never on a denial; each adds to the decision what goes
// upstream (Headers, RemoveHeaders), and whatever header it writes it also
// owns: a client's copy must never pass. A step that fails makes the Check
// an error — what the upstream was promised cannot be sent, and the
// request is not let through without it.
type Upstream interface {
	// Name names the step in logs and errors.
	Name() string
	Forward(ctx context.Context, in *UpstreamInput, d *Decision) error
}

// HeaderOwner is an Upstream step that writes headers: the policy removes
// every other spelling of them a client sends (x_identity, X-Identity…),
// as it does for its claim headers. The step itself sets or removes the
// exact names.
type HeaderOwner interface {
	OwnedHeaders() []string
}

// UpstreamInput is what a step may read: the request, and the token's
// claims and validator (none when the policy takes no token, or none was
// sent on an optional one).
type UpstreamInput struct {
	Request *Request
	// Token is the access token the client presented, for a step that
	// trades it (token exchange); "" without one. Never logged.
	Token     string
	Claims    map[string]any
	Validator string
	// Expiry is the token's exp; zero when it has none.
	Expiry time.Time
	// Signed is the validator's signed statement of the claims (an IdP's
	// RFC 9701 answer), "" when it gave none.
	Signed string

	// memo remembers what steps make from this token's verdict; nil
	// without a token.
	memo *memo
}

// memo is the cache steps share, and where this Check's token sits in it:
// the token, the policy, and when the verdict was judged.
type memo struct {
	cache  *cache.Cache[string]
	sum    [sha256.Size]byte
	policy string
	judged time.Time
}

// key places a step's key under this Check's token verdict, in one
// allocation.
func (m *memo) key(step string) string {
	var buf [256]byte
	b := append(buf[:0], m.sum[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.judged.UnixMilli()))
	b = append(b, m.policy...)
	b = append(b, 0)
	return string(append(b, step...))
}

// Remember returns what make returns for key, made once per verdict of
// this token (a new verdict — after expiry, a refresh, a purge — makes it
// anew) and policy, and kept until the time make says, or until the
// verdict's end. Concurrent Checks of one token wait for one make. Without
// a token, make runs every time.
func (in *UpstreamInput) Remember(ctx context.Context, key string, make func(context.Context) (value string, until time.Time, err error)) (string, error) {
	if in.memo == nil {
		v, _, err := make(ctx)
		return v, err
	}
	full := in.memo.key(key)
	v, _, err := in.memo.cache.Load(ctx, full, func(ctx context.Context) (cache.Loaded[string], error) {
		v, until, err := make(ctx)
		if err != nil {
			return cache.Loaded[string]{}, err
		}
		if !in.Expiry.IsZero() && in.Expiry.Before(until) {
			until = in.Expiry
		}
		return cache.Loaded[string]{Value: v, Cost: int64(len(v) + len(full)), TTL: time.Until(until)}, nil
	})
	return v, err
}

// forward runs the policy's upstream steps on an allow; the first that
// fails turns the decision into an error.
func (p *compiledPolicy) forward(ctx context.Context, in *UpstreamInput, d Decision) Decision {
	for _, step := range p.Upstream {
		if err := step.Forward(ctx, in, &d); err != nil {
			d.Headers, d.RemoveHeaders, d.Claims, d.Sender = nil, nil, nil, ""
			reason := fmt.Sprintf("upstream step %s: %v", step.Name(), err)
			if errors.Is(err, ErrExpired) {
				// The token expired as far as the upstream is concerned
				// (a JWT accepted within leeway): the client's to renew.
				return d.fail(Invalid, reason, publicReason(true))
			}
			return d.fail(Error, reason, "authorization failed")
		}
	}
	return d
}

// stepHeaders are the headers a policy's steps write.
func stepHeaders(steps []Upstream) []string {
	var out []string
	for _, s := range steps {
		if o, ok := s.(HeaderOwner); ok {
			out = append(out, o.OwnedHeaders()...)
		}
	}
	return out
}

func upstreamMaxBytes(opts Options) int64 {
	if opts.UpstreamMaxBytes > 0 {
		return opts.UpstreamMaxBytes
	}
	return DefaultSideCacheBytes(opts.CacheMaxBytes)
}

// upstreamCache is the cache the steps remember in: the running one on a
// reload (resized by Commit), a new one when steps first appear, none
// while no policy has steps.
func upstreamCache(opts Options) (*cache.Cache[string], error) {
	if r := opts.Reuse; r != nil && r.upstream != nil {
		return r.upstream, nil
	}
	for _, p := range opts.Policies {
		if len(p.Upstream) > 0 {
			return cache.New[string](cache.Options{MaxBytes: upstreamMaxBytes(opts), OnPanic: opts.OnPanic})
		}
	}
	return nil, nil
}

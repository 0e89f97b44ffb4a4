package server

import (
	"context"
	"crypto/sha256"
	"sync/atomic"
	"time"

	"github.com/authz-dev/authz/authz"
)

// live is the core currently serving. The doors hold live, not a core, so
// a reload swaps the core between two Checks: a Check in flight finishes on
// the core it started with.
type live struct{ cur atomic.Pointer[core] }

func (l *live) Authorize(ctx context.Context, req *authz.Request) authz.Decision {
	return l.cur.Load().auth.Authorize(ctx, req)
}

func (l *live) Answers() *authz.Answers { return l.cur.Load().auth.Answers() }

func (l *live) Purge(ctx context.Context, token string) (authz.PurgeReport, error) {
	return l.cur.Load().auth.Purge(ctx, token)
}

// Forget drops a purged token from the core serving now: a subscription
// bound to one core would miss the cache scopes a later reload adds.
func (l *live) Forget(sum [sha256.Size]byte) { l.cur.Load().auth.Forget(sum) }

func (l *live) CheckStarted(ctx context.Context, door string, h authz.Header) context.Context {
	return l.cur.Load().observer.CheckStarted(ctx, door, h)
}

func (l *live) CheckDone(ctx context.Context, d *authz.Decision, door, requestID string, latency time.Duration) {
	l.cur.Load().observer.CheckDone(ctx, d, door, requestID, latency)
}

func (l *live) Panicked(where string, recovered any, stack []byte) {
	l.cur.Load().observer.Panicked(where, recovered, stack)
}

// current is the core serving now.
func (s *Server) current() *core { return s.live.cur.Load() }

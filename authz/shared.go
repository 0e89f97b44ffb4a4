package authz

import (
	"context"
	"time"
)

// SharedCache is an optional second cache tier shared by replicas. It is an
// optimisation, never a dependency: implementations answer every fault of
// their own (unreachable, slow, garbage) as a miss.
type SharedCache interface {
	// Get returns the entry for the token as judged in scope (the
	// introspection endpoint name, "" for JWTs).
	Get(ctx context.Context, token, scope string) (SharedEntry, bool)
	Set(ctx context.Context, token, scope string, e SharedEntry)
	// Purge removes the token's entries for every scope and tells the other
	// replicas to drop theirs.
	// It returns how many subscribers were told.
	Purge(ctx context.Context, token string, scopes []string) (subscribers int64, err error)
	// Lease asks to be the one replica that judges the token in scope
	// now. held: another replica holds the lease, and Await can wait for
	// its verdict. Otherwise judge here (a fault or no leases reads so
	// too) and call release once the verdict is Set — release(true) — or
	// with false when, holding the lease, this replica found the verdict
	// the last holder left and judged nothing.
	Lease(ctx context.Context, token, scope string) (release func(judged bool), held bool)
	// Await waits, no longer than a lease lasts, for the entry the
	// lease's holder writes: one judged after `after`. False when the
	// lease ended without one, the wait ran out or ctx ended: judge here.
	Await(ctx context.Context, token, scope string, after time.Time) (SharedEntry, bool)
}

// SharedEntry is a cached judgement as it travels between replicas.
type SharedEntry struct {
	Result  *Result // nil when the token is invalid
	Invalid string  // why the token is invalid
	Expired bool    // the token is invalid because it expired
	// Until is when the entry stops being usable: never past the token's exp.
	Until time.Time
	// Fingerprint names the settings of the validator that judged: a
	// replica whose validator differs (a reload, a rolling config change)
	// judges the token again instead of trusting the entry.
	Fingerprint string
	// Judged is when the validator judged (millisecond precision): a
	// refresh takes only an entry judged after the one it replaces.
	Judged time.Time
}

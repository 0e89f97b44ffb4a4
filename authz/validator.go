package authz

import (
	"context"
	"errors"
	"time"
)

// A Validator judges one token. It returns a Result for a valid token, an
// error wrapping ErrInvalidToken for a token that is definitely bad, and any
// other error when it could not judge (which becomes the Error outcome).
type Validator interface {
	Validate(ctx context.Context, token string) (*Result, error)
}

// ErrInvalidToken marks a token that is malformed, badly signed, expired,
// for someone else, or inactive. Such results are negatively cached.
var ErrInvalidToken = errors.New("invalid token")

// ErrExpired marks an expired token (wraps ErrInvalidToken in validators).
var ErrExpired = errors.New("token expired")

// ErrUnavailable marks a failure to judge a token: the IdP or the JWKS could
// not be reached or answered nonsense. Never cached, never allowed.
var ErrUnavailable = errors.New("validation unavailable")

// Result is what a validator learned about a token. It is cached by token
// hash and does not depend on any policy: policies are re-checked on every hit.
type Result struct {
	// Validator is the name of the issuer or introspection endpoint that vouched for the token.
	Validator string
	// Claims are the token's claims (JWT payload or introspection response).
	Claims map[string]any
	// Expiry is the token's exp; zero when the token carries none.
	Expiry time.Time
	// Signed is the validator's own signed statement of the claims, when
	// it gave one: an IdP's JWT introspection answer (RFC 9701), which a
	// policy may forward upstream as it is.
	Signed string
	// Size approximates the bytes the result holds, for the cache's cost.
	Size int
	// Live marks a result the IdP was asked for (introspection, or a JWT
	// whose issuer introspects): one worth refreshing ahead of expiry, so
	// no Check of a hot token waits on the IdP.
	Live bool
}

// ClaimsSize approximates the heap bytes a decoded JSON value holds, for
// the cache's cost accounting: max_bytes is only a memory bound if costs
// are close to what the Go runtime really allocates. The constants model Go's
// maps (8-slot groups of 16-byte keys and 16-byte interface values, kept at
// most 7/8 full), interface boxing of strings and numbers, and allocation
// size classes; BenchmarkMillionTokens checks the model against RSS.
func ClaimsSize(v any) int {
	switch v := v.(type) {
	case map[string]any:
		groups := (len(v)*8/7 + 7) / 8
		n := 96 + groups*(8+8*32)
		for k, e := range v {
			n += roundAlloc(len(k)) + ClaimsSize(e)
		}
		return n
	case []any:
		n := 16 + roundAlloc(16*cap(v))
		for _, e := range v {
			n += ClaimsSize(e)
		}
		return n
	case string:
		return 16 + roundAlloc(len(v)) // the boxed header and the bytes
	case float64:
		return 8
	default:
		return 0 // bools and nil are not allocated
	}
}

// roundAlloc rounds n up to the allocator's smallest size classes.
func roundAlloc(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 8:
		return 8
	case n <= 128:
		return (n + 15) &^ 15
	default:
		return (n + 63) &^ 63
	}
}

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
	// Size approximates the bytes the result holds, for the cache's cost.
	Size int
}

// ClaimsSize approximates the memory a decoded JSON value holds, for the
// cache's cost accounting.
func ClaimsSize(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := 48
		for k, e := range v {
			n += len(k) + 16 + ClaimsSize(e)
		}
		return n
	case []any:
		n := 24
		for _, e := range v {
			n += 16 + ClaimsSize(e)
		}
		return n
	case string:
		return len(v) + 16
	default:
		return 16
	}
}

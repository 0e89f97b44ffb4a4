package jwt

import (
	"fmt"
	"time"

	"github.com/authz-dev/authz/authz"
)

// checkClaims applies RFC 7519 §4.1 and RFC 9068 §4 to verified claims: iss
// exact, aud any-of, exp required and not passed, nbf and iat not in the
// future (each with leeway). It returns the token's expiry.
func checkClaims(claims map[string]any, issuer string, audiences []string, now time.Time, leeway time.Duration) (time.Time, error) {
	if iss, _ := claims["iss"].(string); iss != issuer {
		return time.Time{}, invalid("iss does not match")
	}
	if !authz.HasAnyAudience(claims, audiences) {
		return time.Time{}, invalid("aud does not name an accepted audience")
	}
	exp, ok, err := numericDate(claims, "exp")
	switch {
	case err != nil:
		return time.Time{}, err
	case !ok:
		return time.Time{}, invalid("no exp claim") // RFC 9068 §2.2: access tokens carry exp
	case now.Add(-leeway).After(exp):
		return time.Time{}, fmt.Errorf("%w: %w", authz.ErrInvalidToken, authz.ErrExpired)
	}
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil {
		return time.Time{}, err
	} else if ok && now.Add(leeway).Before(nbf) {
		return time.Time{}, invalid("token not valid yet (nbf)")
	}
	if iat, ok, err := numericDate(claims, "iat"); err != nil {
		return time.Time{}, err
	} else if ok && now.Add(leeway).Before(iat) {
		return time.Time{}, invalid("token issued in the future (iat)")
	}
	return exp, nil
}

// numericDate reads an RFC 7519 NumericDate (seconds, possibly fractional).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	t, ok := authz.NumericDate(v)
	if !ok {
		return time.Time{}, false, invalid(name + " is not a NumericDate")
	}
	return t, true, nil
}

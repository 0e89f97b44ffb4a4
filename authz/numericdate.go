package authz

import (
	"math"
	"time"
)

// maxNumericDate bounds a NumericDate at about the year 5138: beyond it a
// time is no longer a date but an attempt to overflow one.
const maxNumericDate = 1e11

// NumericDate reads an RFC 7519 NumericDate — seconds since the epoch,
// possibly fractional — from a decoded JSON value; false when v is not a
// number, not finite, negative, or past maxNumericDate. Tokens (exp, nbf,
// iat), introspection answers (exp) and DPoP proofs (iat) all read their
// times through it.
func NumericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

package authz

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// lookupClaim follows a dotted path ("realm_access.roles") through nested
// objects. A claim whose own name contains a dot (as some IdPs emit, e.g.
// "https://example.com/roles") is found by trying the whole remaining path
// as one key first.
func lookupClaim(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, v != nil
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		inner, ok := claims[path[:i]].(map[string]any)
		if !ok {
			continue
		}
		if v, ok := lookupClaim(inner, path[i+1:]); ok {
			return v, true
		}
	}
	return nil, false
}

// renderClaim turns a claim into a header value: strings as they are,
// numbers without exponent, arrays joined by sep, objects as compact JSON.
func renderClaim(v any, sep string) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		// An item holding the separator would read as two items upstream
		// (["user,admin"] against ["user","admin"]); it is dropped so the
		// upstream can trust the split.
		var b strings.Builder
		n := 0
		for _, e := range v {
			s := renderScalar(e)
			if sep != "" && strings.Contains(s, sep) {
				continue
			}
			if n > 0 {
				b.WriteString(sep)
			}
			b.WriteString(s)
			n++
		}
		return b.String()
	default:
		return renderScalar(v)
	}
}

func renderScalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// scopes returns the token's scopes from "scope" (space-separated, RFC 8693
// and RFC 9068) or "scp" (array or string, as Azure AD and Okta emit).
func hasScopes(claims map[string]any, required []string) bool {
	if len(required) == 0 {
		return true
	}
	var have []string
	switch s := claims["scope"].(type) {
	case string:
		have = strings.Fields(s)
	case []any:
		have = appendStrings(have, s)
	}
	switch s := claims["scp"].(type) {
	case string:
		have = append(have, strings.Fields(s)...)
	case []any:
		have = appendStrings(have, s)
	}
	for _, r := range required {
		if !slices.Contains(have, r) {
			return false
		}
	}
	return true
}

// HasAnyAudience reports whether the "aud" claim (a string or an array,
// RFC 7519 §4.1.3) names one of want; an empty want is always met.
func HasAnyAudience(claims map[string]any, want []string) bool {
	if len(want) == 0 {
		return true
	}
	var have []string
	switch a := claims["aud"].(type) {
	case string:
		have = []string{a}
	case []any:
		have = appendStrings(nil, a)
	}
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

func appendStrings(dst []string, vs []any) []string {
	for _, v := range vs {
		if s, ok := v.(string); ok {
			dst = append(dst, s)
		}
	}
	return dst
}

package authz

import (
	"slices"
	"strings"
)

// hasScopes reports whether the token grants every required scope, read
// from "scope" (space-separated, RFC 8693 and RFC 9068) or "scp" (array or
// string, as Azure AD and Okta emit).
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

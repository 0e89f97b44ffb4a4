package config

import (
	"reflect"
	"strings"
)

// nearestKey is the key of the config type yaml.v3 names ("config.Policy")
// closest to the unknown one, when it is close enough to be a typo
// (require_scope → require_scopes); "" otherwise.
func nearestKey(typeName, unknown string) string {
	t, ok := configTypes()[strings.TrimPrefix(typeName, "*")]
	if !ok {
		return ""
	}
	// A typo is a couple of edits, more in a long key.
	best, bestDist := "", max(2, len(unknown)/3)+1
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		if d := editDistance(strings.ToLower(unknown), key); d < bestDist {
			best, bestDist = key, d
		}
	}
	return best
}

// configTypes names every struct type a config file decodes into, as
// yaml.v3 names them in its errors.
func configTypes() map[string]reflect.Type {
	types := map[string]reflect.Type{}
	var visit func(t reflect.Type)
	visit = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() == "" || types[t.String()] != nil {
			return
		}
		types[t.String()] = t
		for i := range t.NumField() {
			visit(t.Field(i).Type)
		}
	}
	visit(reflect.TypeFor[Config]())
	return types
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

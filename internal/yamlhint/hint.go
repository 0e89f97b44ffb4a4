// Package yamlhint turns yaml.v3's decoding errors into what a person
// fixing a file needs: "unknown key "expekt"; did you mean "expect"?"
// in place of "field expekt not found in type policytest.Case".
package yamlhint

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
)

// Types names every struct type reachable from roots as yaml.v3 names
// them in its errors ("config.Policy").
func Types(roots ...reflect.Type) map[string]reflect.Type {
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
	for _, r := range roots {
		visit(r)
	}
	return types
}

// Nearest is t's yaml key closest to unknown, when close enough to be a
// typo (a couple of edits, more in a long key); "" otherwise.
func Nearest(t reflect.Type, unknown string) string {
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

// UnknownKeys rewrites yaml.v3's "field X not found in type T" lines of
// err as "unknown key "X"; did you mean "Y"?", keeping each line's
// "line N:"; other lines pass unchanged. types names the decoded types
// (Types).
func UnknownKeys(err error, types map[string]reflect.Type) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if before, after, ok := strings.Cut(l, ": field "); ok {
			if name, typ, ok := strings.Cut(after, " not found in type "); ok {
				l = before + ": unknown key " + strconv.Quote(name)
				if t, known := types[strings.TrimPrefix(typ, "*")]; known {
					if near := Nearest(t, name); near != "" {
						l += "; did you mean " + strconv.Quote(near) + "?"
					}
				}
			}
		}
		lines[i] = l
	}
	return errors.New(strings.Join(lines, "\n"))
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

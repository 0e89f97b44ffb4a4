package route

import (
	"slices"
	"strings"
)

// Shadow is a route no request can reach: every request it matches, an
// earlier route matches first.
type Shadow struct {
	Route, By int // indexes in the table
}

// Shadowed lists the routes an earlier route covers completely. Only
// earlier routes that could cover one are compared — those filed in the
// index under keys the later route's own values lead to, and those the
// index cannot key — so a table keyed by workload is checked in about
// linear time.
func (t *Table) Shadowed() []Shadow {
	var out []Shadow
	for b := range t.routes {
		by := b // the first earlier route that covers b, if any
		for _, list := range t.index.coverCandidates(&t.routes[b]) {
			for _, a := range list {
				if a >= by {
					break
				}
				if covers(&t.routes[a], &t.routes[b]) {
					by = a
				}
			}
		}
		if by < b {
			out = append(out, Shadow{Route: b, By: by})
		}
	}
	return out
}

// coverCandidates are the lists of routes that may cover c: the buckets
// c's own hosts, principals and path lead to, and the scan list.
func (x *index) coverCandidates(c *compiled) [][]int {
	var lists [][]int
	for _, h := range c.hosts {
		name := h.exact
		if name == "" {
			name = h.suffix // ".example": its own suffixes are what could cover it
		}
		lists = appendList(lists, x.host, h.exact)
		for i := 1; i < len(name); i++ {
			if name[i] == '.' {
				lists = appendList(lists, x.hostSuffix, name[i:])
			}
		}
		if h.suffix != "" {
			lists = appendList(lists, x.hostSuffix, h.suffix)
		}
	}
	for _, p := range c.destinations {
		lists = x.principalCandidates(lists, x.dest, x.destPrefix, p)
	}
	for _, p := range c.sources {
		lists = x.principalCandidates(lists, x.source, x.sourcePrefix, p)
	}
	for _, p := range []string{c.path, c.prefix} {
		if p == "" {
			continue
		}
		lists = appendList(lists, x.path, p)
		lists = appendPrefixes(lists, x.pathPrefix, x.prefixLens, p)
		lower := strings.ToLower(p)
		lists = appendList(lists, x.pathFold, lower)
		lists = appendPrefixes(lists, x.pathPrefixFld, x.prefixFoldLens, lower)
	}
	if len(x.scan) > 0 {
		lists = append(lists, x.scan)
	}
	return lists
}

func (x *index) principalCandidates(lists [][]int, exact, prefix map[string][]int, p principalMatch) [][]int {
	if !p.prefix {
		lists = appendList(lists, exact, p.value)
	}
	for i := 0; i < len(p.value); i++ {
		if p.value[i] == '/' && (i+1 < len(p.value) || p.prefix) {
			lists = appendList(lists, prefix, p.value[:i+1])
		}
	}
	return lists
}

// covers reports whether every request b matches, a matches too: each
// condition a sets is implied by b's.
func covers(a, b *compiled) bool {
	return coversList(a.methods, b.methods, func(x, y string) bool { return x == y }) && coversList(a.hosts, b.hosts, hostCovers) &&
		coversList(a.destinations, b.destinations, principalCovers) && coversList(a.sources, b.sources, principalCovers) &&
		coversPath(a, b) && coversHeaders(a, b)
}

// coversList: a list condition of a (one entry must hold) holds for every
// request b's list lets through — each of b's entries is within one of
// a's. An empty list of a asks nothing; an empty list of b allows
// anything, which a non-empty a does not.
func coversList[T any](a, b []T, within func(outer, inner T) bool) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, inner := range b {
		if !slices.ContainsFunc(a, func(outer T) bool { return within(outer, inner) }) {
			return false
		}
	}
	return true
}

// hostCovers: every host inner matches, outer matches.
func hostCovers(outer, inner hostMatch) bool {
	switch {
	case outer.exact != "":
		return inner.exact == outer.exact
	case inner.exact != "":
		return len(inner.exact) > len(outer.suffix) && strings.HasSuffix(inner.exact, outer.suffix)
	default:
		return strings.HasSuffix(inner.suffix, outer.suffix)
	}
}

// principalCovers: every principal inner matches, outer matches.
func principalCovers(outer, inner principalMatch) bool {
	switch {
	case !outer.prefix:
		return !inner.prefix && inner.value == outer.value
	case !inner.prefix:
		return len(inner.value) > len(outer.value) && strings.HasPrefix(inner.value, outer.value)
	default:
		return strings.HasPrefix(inner.value, outer.value)
	}
}

// coversPath: a path condition of a holds for every path b's allows. A
// case-sensitive a never covers a case-insensitive b; a regex only itself.
func coversPath(a, b *compiled) bool {
	if a.regex == nil && a.path == "" && a.prefix == "" {
		return true
	}
	if b.Match.PathIgnoreCase && !a.Match.PathIgnoreCase {
		return false
	}
	fold := func(s string) string {
		if a.Match.PathIgnoreCase {
			return strings.ToLower(s)
		}
		return s
	}
	switch {
	case a.regex != nil:
		return b.regex != nil && a.Match.PathRegex == b.Match.PathRegex && a.Match.PathIgnoreCase == b.Match.PathIgnoreCase
	case a.path != "":
		return b.path != "" && fold(b.path) == a.path
	default: // a.prefix
		switch {
		case b.path != "":
			return segmentPrefix(fold(b.path), a.prefix)
		case b.prefix != "":
			return segmentPrefix(fold(b.prefix), a.prefix)
		}
		return false
	}
}

func coversHeaders(a, b *compiled) bool {
	for i, name := range a.headerNames {
		want := a.headerValues[i]
		found := false
		for j, bn := range b.headerNames {
			if bn == name && (want == "*" || b.headerValues[j] == want) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// segmentPrefix reports whether prefix matches p in whole segments, as a
// route's path_prefix does.
func segmentPrefix(p, prefix string) bool {
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || prefix[len(prefix)-1] == '/' || p[len(prefix)] == '/')
}

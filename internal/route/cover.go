package route

import "strings"

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
	return coversMethods(a.methods, b.methods) && coversHosts(a.hosts, b.hosts) &&
		coversPrincipals(a.destinations, b.destinations) && coversPrincipals(a.sources, b.sources) &&
		coversPath(a, b) && coversHeaders(a, b)
}

func coversMethods(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, m := range b {
		if !containsFold(a, m) {
			return false
		}
	}
	return true
}

func coversHosts(a, b []hostMatch) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, bh := range b {
		covered := false
		for _, ah := range a {
			switch {
			case ah.exact != "":
				covered = bh.exact == ah.exact
			case bh.exact != "":
				covered = len(bh.exact) > len(ah.suffix) && strings.HasSuffix(bh.exact, ah.suffix)
			default:
				covered = strings.HasSuffix(bh.suffix, ah.suffix)
			}
			if covered {
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

func coversPrincipals(a, b []principalMatch) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, bp := range b {
		covered := false
		for _, ap := range a {
			switch {
			case !ap.prefix:
				covered = !bp.prefix && bp.value == ap.value
			case !bp.prefix:
				covered = len(bp.value) > len(ap.value) && strings.HasPrefix(bp.value, ap.value)
			default:
				covered = strings.HasPrefix(bp.value, ap.value)
			}
			if covered {
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
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
			return strings.HasPrefix(fold(b.path), a.prefix)
		case b.prefix != "":
			return strings.HasPrefix(fold(b.prefix), a.prefix)
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

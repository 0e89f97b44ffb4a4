package route

import (
	"slices"
	"strings"

	"github.com/authz-dev/authz/authz"
)

// index finds the routes a request could match without looking at the
// others. Each route is filed under one of its conditions — the most
// selective one it has, every value of it — and a request gathers the
// lists its own host, principals and path lead to. A route is only ever
// a candidate, its whole match is still tested, and candidates are tried
// in table order, so the first match is the one a scan would find: with a
// route per workload, a Check looks at a handful of routes out of
// thousands.
type index struct {
	host, hostSuffix          map[string][]int // "shop.example"; ".example" for "*.example"
	dest, destPrefix          map[string][]int // a SPIFFE ID; "spiffe://td/ns/x/" for ".../ns/x/*"
	source, sourcePrefix      map[string][]int
	path, pathFold            map[string][]int // pathFold: lower case, for path_ignore_case
	pathPrefix, pathPrefixFld map[string][]int
	// The distinct lengths of the path prefixes, ascending: a request's
	// path is cut at each to look its prefixes up.
	prefixLens, prefixFoldLens []int
	scan                       []int // routes with no indexable condition
}

// maxCandidateLists bounds the lists a look-up merges on the stack; past
// it (a request whose host, principals and path each have many indexed
// ancestors) the slice grows on the heap and the result is the same.
const maxCandidateLists = 24

func newIndex(routes []compiled) *index {
	x := &index{
		host: map[string][]int{}, hostSuffix: map[string][]int{},
		dest: map[string][]int{}, destPrefix: map[string][]int{},
		source: map[string][]int{}, sourcePrefix: map[string][]int{},
		path: map[string][]int{}, pathFold: map[string][]int{},
		pathPrefix: map[string][]int{}, pathPrefixFld: map[string][]int{},
	}
	for i := range routes {
		x.file(i, &routes[i])
	}
	x.prefixLens = lengths(x.pathPrefix)
	x.prefixFoldLens = lengths(x.pathPrefixFld)
	return x
}

// file puts route i under its most selective condition: exact keys first
// (host, destination, source, path), then prefixes and wildcards.
func (x *index) file(i int, c *compiled) {
	switch {
	case len(c.hosts) > 0 && allExactHosts(c.hosts):
		for _, h := range c.hosts {
			add(x.host, h.exact, i)
		}
	case len(c.destinations) > 0 && allExact(c.destinations):
		for _, p := range c.destinations {
			add(x.dest, p.value, i)
		}
	case len(c.sources) > 0 && allExact(c.sources):
		for _, p := range c.sources {
			add(x.source, p.value, i)
		}
	case c.path != "" && !c.Match.PathIgnoreCase:
		add(x.path, c.path, i)
	case c.path != "":
		add(x.pathFold, strings.ToLower(c.path), i)
	case len(c.destinations) > 0:
		filePrincipals(x.dest, x.destPrefix, c.destinations, i)
	case len(c.sources) > 0:
		filePrincipals(x.source, x.sourcePrefix, c.sources, i)
	case c.prefix != "" && !c.Match.PathIgnoreCase:
		add(x.pathPrefix, c.prefix, i)
	case c.prefix != "":
		add(x.pathPrefixFld, strings.ToLower(c.prefix), i)
	case len(c.hosts) > 0:
		for _, h := range c.hosts {
			if h.exact != "" {
				add(x.host, h.exact, i)
			} else {
				add(x.hostSuffix, h.suffix, i)
			}
		}
	default:
		x.scan = append(x.scan, i)
	}
}

// first returns the first route, in table order, among the candidates
// for req whose whole match holds.
func (x *index) first(routes []compiled, req *authz.Request) (*compiled, bool) {
	host := req.CanonicalHost()
	var buf [maxCandidateLists][]int
	lists := buf[:0]
	lists = appendList(lists, x.host, host)
	if len(x.hostSuffix) > 0 {
		for i := 1; i < len(host); i++ {
			if host[i] == '.' {
				lists = appendList(lists, x.hostSuffix, host[i:])
			}
		}
	}
	lists = x.principalLists(lists, x.dest, x.destPrefix, req.DestinationPrincipal)
	lists = x.principalLists(lists, x.source, x.sourcePrefix, req.SourcePrincipal)
	if len(x.path) > 0 || len(x.pathFold) > 0 || len(x.pathPrefix) > 0 || len(x.pathPrefixFld) > 0 {
		p := req.NormalizedPath()
		lists = appendList(lists, x.path, p)
		lists = appendPrefixes(lists, x.pathPrefix, x.prefixLens, p)
		if len(x.pathFold) > 0 || len(x.pathPrefixFld) > 0 {
			lower := strings.ToLower(p)
			lists = appendList(lists, x.pathFold, lower)
			lists = appendPrefixes(lists, x.pathPrefixFld, x.prefixFoldLens, lower)
		}
	}
	if len(x.scan) > 0 {
		lists = append(lists, x.scan)
	}
	// Merge the ascending lists: the smallest head is the next route in
	// table order. A route filed under two keys the request shows (two of
	// its principal prefixes) comes up twice and is tested once.
	last := -1
	for {
		min, at := -1, -1
		for l, list := range lists {
			if len(list) > 0 && (min < 0 || list[0] < min) {
				min, at = list[0], l
			}
		}
		if at < 0 {
			return nil, false
		}
		lists[at] = lists[at][1:]
		if min == last {
			continue
		}
		last = min
		if c := &routes[min]; c.matches(req, host) {
			return c, true
		}
	}
}

func (x *index) principalLists(lists [][]int, exact, prefix map[string][]int, p string) [][]int {
	if p == "" {
		return lists
	}
	lists = appendList(lists, exact, p)
	if len(prefix) > 0 {
		// A "/*" principal matches what has more after its "/".
		for i := 0; i < len(p)-1; i++ {
			if p[i] == '/' {
				lists = appendList(lists, prefix, p[:i+1])
			}
		}
	}
	return lists
}

func appendList(lists [][]int, m map[string][]int, key string) [][]int {
	if l := m[key]; len(l) > 0 {
		return append(lists, l)
	}
	return lists
}

func appendPrefixes(lists [][]int, m map[string][]int, lens []int, p string) [][]int {
	for _, n := range lens {
		if n > len(p) {
			break
		}
		lists = appendList(lists, m, p[:n])
	}
	return lists
}

func add(m map[string][]int, key string, i int) {
	if l := m[key]; len(l) == 0 || l[len(l)-1] != i {
		m[key] = append(l, i)
	}
}

func filePrincipals(exact, prefix map[string][]int, ps []principalMatch, i int) {
	for _, p := range ps {
		if p.prefix {
			add(prefix, p.value, i)
		} else {
			add(exact, p.value, i)
		}
	}
}

func allExactHosts(hs []hostMatch) bool {
	for _, h := range hs {
		if h.exact == "" {
			return false
		}
	}
	return true
}

func allExact(ps []principalMatch) bool {
	for _, p := range ps {
		if p.prefix {
			return false
		}
	}
	return true
}

func lengths(m map[string][]int) []int {
	var out []int
	for k := range m {
		out = append(out, len(k))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

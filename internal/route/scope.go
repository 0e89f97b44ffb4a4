package route

import "fmt"

// Scope is the part of the request space an included file's routes may
// claim, as the main file declares it: every dimension it sets, a route
// must stay inside.
type Scope struct {
	Hosts                 []string
	PathPrefixes          []string
	SourcePrincipals      []string
	DestinationPrincipals []string
}

// Empty reports a scope that sets nothing, which would claim everything.
func (s Scope) Empty() bool {
	return len(s.Hosts) == 0 && len(s.PathPrefixes) == 0 && len(s.SourcePrincipals) == 0 && len(s.DestinationPrincipals) == 0
}

// Outside reports why r may match a request outside s, or "" when every
// request r matches lies inside it. A route's path_regex cannot be shown
// inside a scope's path prefixes, and so is outside them.
func (s Scope) Outside(r Route) (string, error) {
	scope, err := compile(Route{Name: "scope", Policy: "scope", Match: Match{
		Hosts: s.Hosts, SourcePrincipals: s.SourcePrincipals, DestinationPrincipals: s.DestinationPrincipals, PathPrefix: "/"}})
	if err != nil {
		return "", fmt.Errorf("scope: %w", err)
	}
	c, err := compile(r)
	if err != nil {
		return "", err
	}
	if !coversList(scope.hosts, c.hosts, hostCovers) {
		return fmt.Sprintf("its hosts %v are not within the scope's %v", r.Match.Hosts, s.Hosts), nil
	}
	if !coversList(scope.destinations, c.destinations, principalCovers) {
		return fmt.Sprintf("its destination_principals %v are not within the scope's %v", r.Match.DestinationPrincipals, s.DestinationPrincipals), nil
	}
	if !coversList(scope.sources, c.sources, principalCovers) {
		return fmt.Sprintf("its source_principals %v are not within the scope's %v", r.Match.SourcePrincipals, s.SourcePrincipals), nil
	}
	if len(s.PathPrefixes) > 0 {
		p := c.prefix
		if p == "" {
			p = c.path
		}
		inside := false
		for _, sp := range s.PathPrefixes {
			if p != "" && !c.Match.PathIgnoreCase && segmentPrefix(p, sp) {
				inside = true
			}
		}
		if !inside {
			return fmt.Sprintf("its path is not within the scope's path_prefixes %v (a path_regex or path_ignore_case cannot be shown inside)", s.PathPrefixes), nil
		}
	}
	return "", nil
}

// Specific reports whether r names what it routes — a host, a path other
// than "/", or a principal — rather than catching requests by method or
// client-sent headers alone, as a catch-all does.
func Specific(r Route) bool {
	m := r.Match
	path := m.Path != "" || m.PathRegex != "" || m.PathPrefix != "" && m.PathPrefix != "/"
	return len(m.Hosts) > 0 || path || len(m.SourcePrincipals) > 0 || len(m.DestinationPrincipals) > 0
}

// Clashes lists the pairs (i, j), i < j, of routes from different groups
// (an included file each) with different policies that some request could
// match both: whichever comes first would take the other team's requests.
// It errs towards a clash: a regex is taken to meet any path.
func Clashes(routes []Route, group []int) ([][2]int, error) {
	cs := make([]compiled, len(routes))
	for i, r := range routes {
		c, err := compile(r)
		if err != nil {
			return nil, fmt.Errorf("route %d (%s): %w", i, r.Name, err)
		}
		cs[i] = c
	}
	var out [][2]int
	for i := range cs {
		for j := i + 1; j < len(cs); j++ {
			if group[i] != group[j] && cs[i].Policy != cs[j].Policy && meet(&cs[i], &cs[j]) {
				out = append(out, [2]int{i, j})
			}
		}
	}
	return out, nil
}

// meet reports whether some request could match both a and b.
func meet(a, b *compiled) bool {
	return intersect(a.methods, b.methods, func(x, y string) bool { return x == y }) &&
		intersect(a.hosts, b.hosts, hostsMeet) &&
		intersect(a.destinations, b.destinations, principalsMeet) &&
		intersect(a.sources, b.sources, principalsMeet) &&
		pathsMeet(a, b) && headersMeet(a, b)
}

// intersect: two list conditions (an empty one allows anything) admit a
// common value.
func intersect[T any](a, b []T, meet func(x, y T) bool) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if meet(x, y) {
				return true
			}
		}
	}
	return false
}

func hostsMeet(x, y hostMatch) bool {
	return hostCovers(x, y) || hostCovers(y, x)
}

func principalsMeet(x, y principalMatch) bool {
	return principalCovers(x, y) || principalCovers(y, x)
}

func pathsMeet(a, b *compiled) bool {
	if a.regex != nil || b.regex != nil || a.Match.PathIgnoreCase || b.Match.PathIgnoreCase {
		return true
	}
	switch {
	case a.path != "" && b.path != "":
		return a.path == b.path
	case a.path != "" && b.prefix != "":
		return segmentPrefix(a.path, b.prefix)
	case a.prefix != "" && b.path != "":
		return segmentPrefix(b.path, a.prefix)
	case a.prefix != "" && b.prefix != "":
		return segmentPrefix(a.prefix, b.prefix) || segmentPrefix(b.prefix, a.prefix)
	}
	return true
}

// headersMeet: the same header asked for two exact values never holds.
func headersMeet(a, b *compiled) bool {
	for i, name := range a.headerNames {
		for j, other := range b.headerNames {
			if name == other && a.headerValues[i] != "*" && b.headerValues[j] != "*" && a.headerValues[i] != b.headerValues[j] {
				return false
			}
		}
	}
	return true
}

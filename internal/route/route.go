// Package route picks a policy from the request itself: an ordered table
// of routes, each a match over host, path, method, peer principals and
// headers, the first that holds naming the policy. It is how a mesh whose
// proxy cannot name a policy (Istio's CUSTOM provider) gets one per
// workload and path.
package route

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/authz-dev/authz/authz"
)

// Route is one entry of the table.
type Route struct {
	Name   string
	Match  Match
	Policy string
}

// Match is what a request must show for its route to apply. Every field is
// optional; the fields set must all hold, and a list holds when one of its
// entries does.
type Match struct {
	// Hosts: exact names or a leading "*." wildcard; a :port is ignored and
	// case does not matter.
	Hosts []string
	// One of Path (exact), PathPrefix or PathRegex (RE2, whole path), on
	// the normalised path (authz.NormalizePath).
	Path, PathPrefix, PathRegex string
	// PathIgnoreCase compares the path case-insensitively, for upstreams
	// that serve /ADMIN as /admin.
	PathIgnoreCase bool
	Methods        []string
	// Principals: exact SPIFFE IDs, or a prefix ending in "/*".
	SourcePrincipals      []string
	DestinationPrincipals []string
	// Headers: name → "*" (present) or the exact value.
	Headers map[string]string
}

// Table is a compiled route table.
type Table struct {
	routes []compiled
	index  *index
}

type compiled struct {
	Route
	hosts                     []hostMatch
	regex                     *regexp.Regexp
	prefix, path              string
	methods                   []string
	sources, destinations     []principalMatch
	headerNames, headerValues []string
}

type hostMatch struct {
	suffix string // ".example.com" for "*.example.com"
	exact  string
}

type principalMatch struct {
	prefix bool
	value  string
}

// New compiles routes; an error names the route and field.
func New(routes []Route) (*Table, error) {
	t := &Table{routes: make([]compiled, 0, len(routes))}
	names := map[string]bool{}
	for i, r := range routes {
		c, err := compile(r)
		if err != nil {
			return nil, fmt.Errorf("route %d (%s): %w", i, r.Name, err)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("route %d: name %q is used twice", i, r.Name)
		}
		names[r.Name] = true
		t.routes = append(t.routes, c)
	}
	t.index = newIndex(t.routes)
	return t, nil
}

func compile(r Route) (compiled, error) {
	m := r.Match
	c := compiled{Route: r}
	if r.Name == "" {
		return c, fmt.Errorf("a route needs a name")
	}
	if r.Policy == "" {
		return c, fmt.Errorf("a route needs a policy")
	}
	if m.empty() {
		return c, fmt.Errorf("an empty match would catch every request; leave such requests to routes_unmatched")
	}
	set := 0
	for _, p := range []string{m.Path, m.PathPrefix, m.PathRegex} {
		if p != "" {
			set++
		}
	}
	if set > 1 {
		return c, fmt.Errorf("set one of path, path_prefix and path_regex")
	}
	fold := func(s string) string {
		if m.PathIgnoreCase {
			return strings.ToLower(s)
		}
		return s
	}
	c.path, c.prefix = fold(m.Path), fold(m.PathPrefix)
	for _, p := range []string{m.Path, m.PathPrefix} {
		if p != "" && !strings.HasPrefix(p, "/") {
			return c, fmt.Errorf("path %q must start with /", p)
		}
	}
	if m.PathRegex != "" {
		expr := "^(?:" + m.PathRegex + ")$"
		if m.PathIgnoreCase {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return c, fmt.Errorf("path_regex: %w", err)
		}
		c.regex = re
	}
	for _, h := range m.Hosts {
		h = strings.TrimSuffix(strings.ToLower(stripPort(h)), ".")
		switch {
		case strings.HasPrefix(h, "*.") && len(h) > 2 && !strings.Contains(h[2:], "*"):
			c.hosts = append(c.hosts, hostMatch{suffix: h[1:]})
		case h != "" && !strings.Contains(h, "*"):
			c.hosts = append(c.hosts, hostMatch{exact: h})
		default:
			return c, fmt.Errorf("host %q: exact, or a leading *. wildcard", h)
		}
	}
	for _, meth := range m.Methods {
		if meth == "" {
			return c, fmt.Errorf("empty method")
		}
		if authz.MethodProblem(meth) != "" {
			// Methods are case-sensitive (RFC 9110 §9.1): "get" would
			// never match, and a request spelling it so is refused.
			return c, fmt.Errorf("method %q: methods are case-sensitive upper-case tokens; write %q", meth, strings.ToUpper(meth))
		}
		c.methods = append(c.methods, meth)
	}
	var err error
	if c.sources, err = principals(m.SourcePrincipals); err != nil {
		return c, fmt.Errorf("source_principals: %w", err)
	}
	if c.destinations, err = principals(m.DestinationPrincipals); err != nil {
		return c, fmt.Errorf("destination_principals: %w", err)
	}
	for name, v := range m.Headers {
		if name == "" {
			return c, fmt.Errorf("empty header name")
		}
		c.headerNames = append(c.headerNames, strings.ToLower(name))
		c.headerValues = append(c.headerValues, v)
	}
	return c, nil
}

func (m Match) empty() bool {
	return len(m.Hosts) == 0 && m.Path == "" && m.PathPrefix == "" && m.PathRegex == "" && len(m.Methods) == 0 &&
		len(m.SourcePrincipals) == 0 && len(m.DestinationPrincipals) == 0 && len(m.Headers) == 0
}

func principals(ps []string) ([]principalMatch, error) {
	out := make([]principalMatch, 0, len(ps))
	for _, p := range ps {
		switch {
		case p == "":
			return nil, fmt.Errorf("empty principal")
		case strings.HasSuffix(p, "/*"):
			out = append(out, principalMatch{prefix: true, value: strings.TrimSuffix(p, "*")})
		case strings.Contains(p, "*"):
			return nil, fmt.Errorf("%q: a wildcard may only end the principal, as /*", p)
		default:
			out = append(out, principalMatch{value: p})
		}
	}
	return out, nil
}

// Routes returns the table's routes, in order.
func (t *Table) Routes() []Route {
	out := make([]Route, len(t.routes))
	for i, c := range t.routes {
		out[i] = c.Route
	}
	return out
}

// Route implements authz.Router: the first route whose match holds, found
// through the table's index (index.go).
func (t *Table) Route(req *authz.Request) (name, policy string, ok bool) {
	if c, ok := t.index.first(t.routes, req); ok {
		return c.Name, c.Policy, true
	}
	return "", "", false
}

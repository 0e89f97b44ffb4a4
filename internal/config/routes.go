package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/authz-dev/authz/internal/route"

	"github.com/authz-dev/authz/authz"
)

// Route picks a policy from the request itself; the first whose match
// holds wins. The operator's explicit name (Envoy's context_extensions)
// goes before every route.
type Route struct {
	Name   string     `yaml:"name"`
	Match  RouteMatch `yaml:"match"`
	Policy string     `yaml:"policy"`
	// UpstreamAudience is the aud of the token the policy mints for the
	// requests this route chooses (the upstream service), in place of the
	// policy's audience.
	UpstreamAudience string `yaml:"upstream_audience"`
}

// RouteMatch: every field optional, the set ones AND-ed, a list's entries
// OR-ed (see package route).
type RouteMatch struct {
	Hosts                 []string          `yaml:"hosts"`
	Path                  string            `yaml:"path"`
	PathPrefix            string            `yaml:"path_prefix"`
	PathRegex             string            `yaml:"path_regex"`
	PathIgnoreCase        bool              `yaml:"path_ignore_case"`
	Methods               []string          `yaml:"methods"`
	SourcePrincipals      []string          `yaml:"source_principals"`
	DestinationPrincipals []string          `yaml:"destination_principals"`
	Headers               map[string]string `yaml:"headers"`
}

// Spec is the route as package route compiles it.
func (r Route) Spec() route.Route {
	m := r.Match
	return route.Route{Name: r.Name, Policy: r.Policy, Match: route.Match{
		Hosts: m.Hosts, Path: m.Path, PathPrefix: m.PathPrefix, PathRegex: m.PathRegex, PathIgnoreCase: m.PathIgnoreCase,
		Methods: m.Methods, SourcePrincipals: m.SourcePrincipals, DestinationPrincipals: m.DestinationPrincipals, Headers: m.Headers,
	}}
}

// Routing is the routes' companions at the top level.
type Routing struct {
	// Unmatched is the policy for requests no route matches, or "deny"
	// (default: the default policy).
	Unmatched string `yaml:"routes_unmatched"`
	// EncodedSlashes: reject (default) denies a routed request whose path
	// holds %2F or %5C, which an upstream might decode after routing;
	// keep routes it as it is (for APIs that put encoded slashes in ids).
	EncodedSlashes string `yaml:"routes_encoded_slashes"`
	// UpstreamPaths: lenient (default) refuses a request whose path routes
	// differently once case-folded or with its trailing slash toggled, as
	// Express and many frameworks serve it; strict, for upstreams that
	// read paths exactly, routes the path as written only.
	UpstreamPaths string `yaml:"routes_upstream_paths"`
}

// validateRoutes checks the merged route table; origin says where route i
// was written when fragments were included ("" otherwise).
func validateRoutes(routes []Route, r Routing, policies map[string]Policy, origin func(int) string, p *problems) {
	// Shadowing is judged when the routes themselves are sound, whatever
	// else the config gets wrong: one run reports both.
	before := len(p.errs)
	names := map[string]int{}
	for i, rt := range routes {
		first, seen := names[rt.Name]
		switch {
		case rt.Name == "":
			p.add(pathOf("routes", i, "name"), "is required")
		case seen && origin(first) != "":
			p.add(pathOf("routes", i, "name"), "%q is used twice; it is first used in %s", rt.Name, origin(first))
		case seen:
			p.add(pathOf("routes", i, "name"), "%q is used twice", rt.Name)
		}
		if !seen {
			names[rt.Name] = i
		}
		if _, ok := policies[rt.Policy]; !ok {
			p.add(pathOf("routes", i, "policy"), "unknown policy %q", rt.Policy)
		}
		m := rt.Match
		if len(m.Hosts) == 0 && m.Path == "" && m.PathPrefix == "" && m.PathRegex == "" && len(m.Methods) == 0 &&
			len(m.SourcePrincipals) == 0 && len(m.DestinationPrincipals) == 0 && len(m.Headers) == 0 {
			p.add(pathOf("routes", i, "match"), "is empty: it would catch every request; use routes_unmatched for those")
		}
		set := 0
		for _, s := range []string{m.Path, m.PathPrefix, m.PathRegex} {
			if s != "" {
				set++
			}
		}
		if set > 1 {
			p.add(pathOf("routes", i, "match"), "set one of path, path_prefix and path_regex")
		}
		if m.PathRegex != "" {
			if _, err := regexp.Compile(m.PathRegex); err != nil {
				p.add(pathOf("routes", i, "match", "path_regex"), "%v", err)
			}
		}
		for j, meth := range m.Methods {
			if meth != "" && meth != strings.ToUpper(meth) {
				p.add(pathOf("routes", i, "match", "methods", j), "%q: methods are case-sensitive (RFC 9110); write %q", meth, strings.ToUpper(meth))
			}
		}
		for _, f := range []struct{ key, v string }{{"path", m.Path}, {"path_prefix", m.PathPrefix}} {
			if f.v != "" && f.v[0] != '/' {
				p.add(pathOf("routes", i, "match", f.key), "%q must start with /", f.v)
			}
		}
	}
	if len(p.errs) == before && len(routes) > 1 {
		reportShadowed(routes, origin, p)
	}
	if r.Unmatched != "" && r.Unmatched != authz.UnmatchedDeny {
		if _, ok := policies[r.Unmatched]; !ok {
			p.add("routes_unmatched", "%q: name a policy, or deny", r.Unmatched)
		}
	}
	if !slices.Contains([]string{"", "reject", "keep"}, r.EncodedSlashes) {
		p.add("routes_encoded_slashes", "%q: use reject or keep", r.EncodedSlashes)
	}
	if !slices.Contains([]string{"", "lenient", "strict"}, r.UpstreamPaths) {
		p.add("routes_upstream_paths", "%q: use lenient or strict", r.UpstreamPaths)
	}
}

// reportShadowed makes a route no request can reach an error: an earlier
// route matches everything it does (a path_prefix: / with nothing else,
// a namespace's principals before one of its service accounts), which
// the operator meant otherwise.
func reportShadowed(routes []Route, origin func(int) string, p *problems) {
	specs := make([]route.Route, len(routes))
	for i, r := range routes {
		specs[i] = r.Spec()
	}
	t, err := route.New(specs)
	if err != nil {
		p.add("routes", "%v", err)
		return
	}
	for _, s := range t.Shadowed() {
		by := fmt.Sprintf("route #%d (%q)", s.By+1, routes[s.By].Name)
		if o := origin(s.By); o != "" {
			by = fmt.Sprintf("route %q (%s)", routes[s.By].Name, o)
		}
		p.add(pathOf("routes", s.Route, "match"), "route %q can never match: %s comes first and matches every request it does; put the narrower route first",
			routes[s.Route].Name, by)
	}
}

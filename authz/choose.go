package authz

import "strings"

// Router picks the policy for a request whose proxy named none: the first
// route whose match holds. It reads only what the proxy vouches for
// (request line, forwarded host and path, peer principals).
type Router interface {
	Route(req *Request) (route, policy string, ok bool)
}

// Unmatched says what a request no route matches gets.
const (
	// UnmatchedDeny denies it (forbidden, reason "no route").
	UnmatchedDeny = "deny"
)

// choose names the policy for req, in the precedence docs/architecture.md gives: the
// operator's explicit name, then the first matching route, then
// Options.Unmatched. route is "" unless a route chose; deny reports that
// nothing may pass.
func (a *Authorizer) choose(req *Request) (policy, route, denyReason string) {
	// Whatever chooses the policy, rules, request_claims and sender checks
	// read the method, target and host too: one that readers could part
	// on is refused.
	if req.Unreadable != "" {
		return "", "", req.Unreadable
	}
	if p := MethodProblem(req.Method); p != "" {
		return "", "", p
	}
	if p := TargetProblem(req.Path); p != "" {
		return "", "", p
	}
	if p := req.HostProblem(); p != "" {
		return "", "", p
	}
	if a.rejectEncodedSeparators && HasEncodedSeparator(req.NormalizedPath()) {
		// An upstream that decodes %2F after routing — or a rule that
		// reads request.path — would see another path than the one judged.
		return "", "", "encoded slash or backslash in path"
	}
	if req.Policy != "" {
		return req.Policy, "", ""
	}
	if a.router == nil {
		return DefaultPolicy, "", ""
	}
	route, policy, ok := a.router.Route(req)
	if strings.IndexByte(pathOf(req.Path), ';') >= 0 {
		// Servlet containers cut ";params" from segments, nginx, WHATWG
		// parsers and Go keep them: "/catalog;/" is /catalog/ to one and
		// another path to the others. Routed both ways, it must land on
		// the same route.
		if !a.routesAlike(req, normalizePathKeepingParams(req.Path), route, ok) {
			return "", "", "path parameters change the route"
		}
	}
	if a.checkPathVariants {
		if p := a.variantProblem(req, route, ok); p != "" {
			return "", "", p
		}
	}
	if ok {
		return policy, route, ""
	}
	if a.unmatched == UnmatchedDeny {
		return "", "", "no route"
	}
	return a.unmatched, "", ""
}

// variantProblem routes the readings of req's path a lenient upstream
// serves alike — Express, Rails, ASP.NET and many more match paths
// case-insensitively and with or without a trailing slash — and reports
// when one of them lands on another route than the path as written:
// "/ADMIN/users" is the admin handler to such an upstream, whatever the
// route table says of it.
//
// A variant no route matches is no problem: its handler is not one the
// operator named ("/catalog" beside a route for "/catalog/"), and refusing
// it would refuse every directory-style path.
func (a *Authorizer) variantProblem(req *Request, route string, ok bool) string {
	p := req.NormalizedPath()
	if toggled := toggleTrailingSlash(p); toggled != "" && a.routesElsewhere(req, toggled, route, ok) {
		return "path routes differently with or without its trailing slash"
	}
	if !hasUpper(p) {
		return ""
	}
	lower := strings.ToLower(p)
	if a.routesElsewhere(req, lower, route, ok) {
		return "path routes differently in another letter case"
	}
	if toggled := toggleTrailingSlash(lower); toggled != "" && a.routesElsewhere(req, toggled, route, ok) {
		return "path routes differently in another letter case"
	}
	return ""
}

// routeAt is the route req's path read as path matches, and whether one
// does: the router on another reading of the same request.
func (a *Authorizer) routeAt(req *Request, path string) (string, bool) {
	variant := *req
	variant.normalized, variant.isNormalized = path, true
	route, _, ok := a.router.Route(&variant)
	return route, ok
}

// routesElsewhere reports whether req, its path read as path, matches a
// route other than the one route and ok say it matched.
func (a *Authorizer) routesElsewhere(req *Request, path, route string, ok bool) bool {
	r2, ok2 := a.routeAt(req, path)
	return ok2 && (!ok || r2 != route)
}

// routesAlike reports whether req, its path read as path, is routed as
// route and ok say it was.
func (a *Authorizer) routesAlike(req *Request, path, route string, ok bool) bool {
	r2, ok2 := a.routeAt(req, path)
	return r2 == route && ok2 == ok
}

// toggleTrailingSlash is p with its trailing "/" removed, or one added;
// "" for "/".
func toggleTrailingSlash(p string) string {
	switch {
	case p == "/" || p == "":
		return ""
	case strings.HasSuffix(p, "/"):
		return p[:len(p)-1]
	}
	return p + "/"
}

// pathOf is target without its query.
func pathOf(target string) string {
	p, _, _ := strings.Cut(target, "?")
	return p
}

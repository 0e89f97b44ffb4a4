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
	// Whatever chooses the policy, rules and sender checks read the
	// target and host too: one that readers could part on is refused.
	if req.Unreadable != "" {
		return "", "", req.Unreadable
	}
	if p := TargetProblem(req.Path); p != "" {
		return "", "", p
	}
	if p := req.HostProblem(); p != "" {
		return "", "", p
	}
	if req.Policy != "" {
		return req.Policy, "", ""
	}
	if a.router == nil {
		return DefaultPolicy, "", ""
	}
	if a.rejectEncodedSeparators && HasEncodedSeparator(req.NormalizedPath()) {
		// An upstream that decodes %2F after routing would serve another
		// path than the one matched.
		return "", "", "encoded slash or backslash in path"
	}
	route, policy, ok := a.router.Route(req)
	if strings.IndexByte(pathOf(req.Path), ';') >= 0 {
		// Servlet containers cut ";params" from segments, nginx, WHATWG
		// parsers and Go keep them: "/catalog;/" is /catalog/ to one and
		// another path to the others. Routed both ways, it must land on
		// the same route.
		literal := *req
		literal.normalized, literal.isNormalized = normalizePathKeepingParams(req.Path), true
		if r2, _, ok2 := a.router.Route(&literal); r2 != route || ok2 != ok {
			return "", "", "path parameters change the route"
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

// pathOf is target without its query.
func pathOf(target string) string {
	p, _, _ := strings.Cut(target, "?")
	return p
}

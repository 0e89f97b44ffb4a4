package authz

// MethodProblem reports why method cannot be read one way by every server,
// or "" when it can. Methods are case-sensitive tokens (RFC 9110 §9.1):
// "get" is not GET, but nginx refuses it, Caddy and Envoy pass it on, and
// an upstream whose handler takes every method serves it as whatever it
// does. Routes compare methods exactly; a method that is not an upper-case
// token (A-Z, and "-" or "_" as in extension methods such as
// VERSION-CONTROL) is refused before any route reads it. An empty method
// (a CheckRequest built by hand) is no problem.
func MethodProblem(method string) string {
	for i := 0; i < len(method); i++ {
		if c := method[i]; (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return "method is not an upper-case token"
		}
	}
	return ""
}

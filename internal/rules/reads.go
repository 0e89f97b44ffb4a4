package rules

import "slices"

// ReadsToken reports whether expr reads the token — its claims or the
// token variable — which a policy that takes no token never has: such a
// rule can only refuse. An expression that does not compile reads
// nothing (Compile reports it).
func ReadsToken(expr string) bool { return readsAny(expr, "claims", "token") }

// ReadsRequest reports whether some rule of s reads the request or its
// peers — not only the token — so that its verdict holds for this request
// alone (a proxy may not reuse it for another).
func (s *Set) ReadsRequest() bool { return s.request }

// readsAny reports whether expr refers to any of the variables; an
// expression that does not compile refers to none.
func readsAny(expr string, variables ...string) bool {
	env, err := newEnv()
	if err != nil {
		return false
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return false
	}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if slices.Contains(variables, ref.Name) {
			return true
		}
	}
	return false
}

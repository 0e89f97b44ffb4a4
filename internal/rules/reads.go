package rules

// ReadsToken reports whether expr reads the token — its claims or the
// token variable — which a policy that takes no token never has: such a
// rule can only refuse. An expression that does not compile reads
// nothing (Compile reports it).
func ReadsToken(expr string) bool {
	env, err := newEnv()
	if err != nil {
		return false
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return false
	}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "claims" || ref.Name == "token" {
			return true
		}
	}
	return false
}

package rules

import (
	"net/url"
	"strings"

	"github.com/google/cel-go/interpreter"

	"github.com/authz-dev/authz/authz"
)

// activation hands CEL the variables of one Check, each built only when an
// expression asks for it.
type activation struct {
	in                     *authz.RuleInput
	request, claims, token map[string]any
	source, destination    map[string]string
}

func newActivation(in *authz.RuleInput) *activation { return &activation{in: in} }

func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "request":
		if a.request == nil {
			r := a.in.Request
			a.request = map[string]any{
				"method":  r.Method,
				"host":    r.Host,
				"path":    r.NormalizedPath(),
				"headers": headers(r.Header),
				"query":   query(r.Path),
			}
		}
		return a.request, true
	case "source":
		if a.source == nil {
			a.source = map[string]string{"principal": a.in.Request.SourcePrincipal}
		}
		return a.source, true
	case "destination":
		if a.destination == nil {
			a.destination = map[string]string{"principal": a.in.Request.DestinationPrincipal}
		}
		return a.destination, true
	case "claims":
		if a.claims == nil {
			a.claims = a.in.Claims
			if a.claims == nil {
				a.claims = map[string]any{}
			}
		}
		return a.claims, true
	case "token":
		if a.token == nil {
			a.token = map[string]any{"validator": a.in.Validator, "scopes": scopes(a.in.Claims)}
		}
		return a.token, true
	}
	return nil, false
}

// headers is the request's headers by lower-case name, repeated values
// joined with ",".
func headers(h authz.Header) map[string]string {
	out := map[string]string{}
	h.Names(func(name string) {
		lower := strings.ToLower(name)
		if _, done := out[lower]; done {
			return
		}
		out[lower] = strings.Join(h.Values(lower), ",")
	})
	return out
}

// query is the request target's query parameters, repeated values joined
// with ",".
func query(target string) map[string]string {
	out := map[string]string{}
	_, raw, ok := strings.Cut(target, "?")
	if !ok {
		return out
	}
	raw, _, _ = strings.Cut(raw, "#")
	vs, _ := url.ParseQuery(raw) // what parses is kept; a bad pair is left out
	for k, v := range vs {
		out[k] = strings.Join(v, ",")
	}
	return out
}

// scopes reads "scope" (space-separated) and "scp" (list or string).
func scopes(claims map[string]any) []string {
	out := []string{}
	for _, name := range []string{"scope", "scp"} {
		switch s := claims[name].(type) {
		case string:
			out = append(out, strings.Fields(s)...)
		case []any:
			for _, e := range s {
				if str, ok := e.(string); ok {
					out = append(out, str)
				}
			}
		}
	}
	return out
}

package rules

import (
	"net/url"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/authz-dev/authz/authz"
)

// activation hands CEL the variables of one Check. Each is a lazyMap that
// answers look-ups from the request itself, so a rule pays only for what
// it reads.
type activation struct {
	in  *authz.RuleInput
	mcp map[string]any // the JSON-RPC message judged, when a rule reads mcp
}

func (a activation) Parent() interpreter.Activation { return nil }

func (a activation) ResolveName(name string) (any, bool) {
	r := a.in.Request
	switch name {
	case "request":
		return &lazyMap{src: requestSource{r}}, true
	case "source":
		return &lazyMap{src: peerSource{&r.SourcePrincipal}}, true
	case "destination":
		return &lazyMap{src: peerSource{&r.DestinationPrincipal}}, true
	case "claims":
		if a.in.Claims == nil {
			return map[string]any{}, true
		}
		return a.in.Claims, true
	case "token":
		return &lazyMap{src: tokenSource{a.in}}, true
	case "mcp":
		if a.mcp == nil {
			return map[string]any{"method": "", "tool": "", "params": map[string]any{}}, true
		}
		return a.mcp, true
	}
	return nil, false
}

// requestSource is request: method, host, path (normalised), headers, query.
type requestSource struct{ r *authz.Request }

func (s requestSource) lookup(key string) (ref.Val, bool) {
	switch key {
	case "method":
		return types.String(s.r.Method), true
	case "host":
		return types.String(s.r.Host), true
	case "path":
		return types.String(s.r.NormalizedPath()), true
	case "headers":
		return &lazyMap{src: headerSource(s)}, true
	case "query":
		return &lazyMap{src: querySource(s)}, true
	}
	return nil, false
}

func (s requestSource) all() map[string]any {
	return map[string]any{
		"method": s.r.Method, "host": s.r.Host, "path": s.r.NormalizedPath(),
		"headers": headers(s.r.Header), "query": query(s.r.Path),
	}
}

// headerSource is request.headers: lower-case names, repeated values
// joined with ",".
type headerSource struct{ r *authz.Request }

func (s headerSource) lookup(name string) (ref.Val, bool) {
	vs := s.r.Header.Values(name)
	switch len(vs) {
	case 0:
		return nil, false
	case 1:
		return types.String(vs[0]), true
	}
	return types.String(strings.Join(vs, ",")), true
}

func (s headerSource) all() map[string]any {
	out := map[string]any{}
	for k, v := range headers(s.r.Header) {
		out[k] = v
	}
	return out
}

// querySource is request.query: parameters of the request target,
// repeated values joined with ",".
type querySource struct{ r *authz.Request }

func (s querySource) lookup(name string) (ref.Val, bool) {
	v, ok := query(s.r.Path)[name]
	if !ok {
		return nil, false
	}
	return types.String(v), true
}

func (s querySource) all() map[string]any {
	out := map[string]any{}
	for k, v := range query(s.r.Path) {
		out[k] = v
	}
	return out
}

// peerSource is source or destination: {principal}.
type peerSource struct{ principal *string }

func (s peerSource) lookup(key string) (ref.Val, bool) {
	if key == "principal" {
		return types.String(*s.principal), true
	}
	return nil, false
}

func (s peerSource) all() map[string]any { return map[string]any{"principal": *s.principal} }

// tokenSource is token: {validator, scopes}.
type tokenSource struct{ in *authz.RuleInput }

func (s tokenSource) lookup(key string) (ref.Val, bool) {
	switch key {
	case "validator":
		return types.String(s.in.Validator), true
	case "scopes":
		return types.NewStringList(types.DefaultTypeAdapter, scopes(s.in.Claims)), true
	}
	return nil, false
}

func (s tokenSource) all() map[string]any {
	return map[string]any{"validator": s.in.Validator, "scopes": scopes(s.in.Claims)}
}

// headers is the request's headers by lower-case name, repeated values
// joined with ",".
// One pass over the fields: asking Values per name would rescan Envoy's
// header_map list for each, quadratic in the client's header count.
func headers(h authz.Header) map[string]string {
	values := map[string][]string{}
	h.Each(func(name, value string) {
		lower := strings.ToLower(name)
		values[lower] = append(values[lower], value)
	})
	out := make(map[string]string, len(values))
	for name, vs := range values {
		out[name] = strings.Join(vs, ",")
	}
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

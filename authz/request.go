package authz

// Request is the protocol-neutral view of an incoming request that an
// adapter (gRPC ext_authz, HTTP forward auth) hands to the Authorizer.
type Request struct {
	// Policy names the policy to apply; empty means the default policy.
	Policy string
	Method string
	Host   string
	Path   string
	Header Header
}

// Header gives the request's header values by lower-case name. Adapters wrap
// their own representation instead of copying it, since only the few headers
// the token sources name are ever read.
type Header interface {
	// Values returns every value of the named header (lower-case name), in order.
	Values(name string) []string
	// Names calls fn with the name of every header the request carries, in
	// any case, so the core can find spellings of the headers it owns.
	Names(fn func(name string))
}

// MapHeader is a Header held in a map with lower-case keys.
type MapHeader map[string][]string

// Values implements Header.
func (h MapHeader) Values(name string) []string { return h[name] }

// Names implements Header.
func (h MapHeader) Names(fn func(name string)) {
	for name := range h {
		fn(name)
	}
}

package authz

// Request is the protocol-neutral view of an incoming request that an
// adapter (gRPC ext_authz, HTTP forward auth) hands to the Authorizer.
// MaxBodyBytes bounds the body a door keeps for rules: MCP messages that
// name a tool are small, and a body past this is judged cut short.
const MaxBodyBytes = 256 << 10

type Request struct {
	// Policy names the policy to apply, as the operator wrote it in the
	// proxy's config (Envoy's context_extensions); empty lets the routes
	// choose.
	Policy string
	Method string
	// Scheme is the client's (http or https), for DPoP's htu.
	Scheme string
	Host   string
	// Path is the request target as the proxy saw it, query included.
	Path   string
	Header Header
	// SourcePrincipal and DestinationPrincipal are the peers' identities
	// (SPIFFE IDs under Istio mTLS); empty when unknown.
	SourcePrincipal      string
	DestinationPrincipal string
	// ClientCert is the client's certificate as URL-encoded PEM (Envoy's
	// source.certificate, nginx's $ssl_client_escaped_cert), and
	// ClientCertHash the hex SHA-256 of its DER from a trusted
	// x-forwarded-client-cert; empty when unknown.
	ClientCert     string
	ClientCertHash string
	// Unreadable, when set, says why the door could not read the request
	// as its proxy describes it (a header the proxy always sets is
	// missing): the request is refused.
	Unreadable string
	// Body is the request's body when the proxy sends it (Envoy's
	// with_request_body), for rules that read it, at most MaxBodyBytes;
	// BodyPartial says the proxy, or the door at MaxBodyBytes, cut it
	// short.
	Body        []byte
	BodyPartial bool
	// Undescribed, when set, says how the proxy failed to describe the
	// request as the door is configured to read it (a header its profile
	// always sets is missing; a policy named where the door does not
	// look): a configuration error between proxy and authz, answered as
	// an error, not as the client's fault.
	Undescribed string

	normalized   string
	isNormalized bool
	host         string
	hostProblem  string
	isHost       bool
}

// CanonicalHost is Host as routes and rules compare it (see CanonicalHost),
// computed once per request; "" when Host is empty or has a problem, which
// HostProblem reports.
func (r *Request) CanonicalHost() string {
	r.readHost()
	return r.host
}

// HostProblem reports why Host cannot be read one way by every reader, or "".
func (r *Request) HostProblem() string {
	r.readHost()
	return r.hostProblem
}

func (r *Request) readHost() {
	if !r.isHost {
		r.host, r.hostProblem = CanonicalHost(r.Host)
		r.isHost = true
	}
}

// NormalizedPath is Path as the upstream will resolve it (see
// NormalizePath), computed once per request.
func (r *Request) NormalizedPath() string {
	if !r.isNormalized {
		r.normalized, r.isNormalized = NormalizePath(r.Path), true
	}
	return r.normalized
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
	// Each calls fn with every field of the request, its name in any case,
	// once per value Values would return: one pass over all headers, where
	// Values per name would rescan them.
	Each(fn func(name, value string))
}

// MaxHeaders bounds the header fields a door accepts on one request: well
// above Envoy's default max_request_headers_count (100), far below what
// would make a request's header index cost more than its Check.
const MaxHeaders = 1000

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

// Each implements Header.
func (h MapHeader) Each(fn func(name, value string)) {
	for name, vs := range h {
		for _, v := range vs {
			fn(name, v)
		}
	}
}

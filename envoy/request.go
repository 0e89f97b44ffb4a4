// Package envoy is the Envoy external authorization (v3, gRPC) door: it turns
// a CheckRequest into an authz.Request and a Decision into a CheckResponse.
package envoy

import (
	"fmt"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/authz"
)

// PolicyKey is the context_extensions key a route sets to pick a policy.
const PolicyKey = "policy"

// partialBodyHeader is the header Envoy adds to the check request when it
// sent only the first max_request_bytes of the body.
const partialBodyHeader = "x-envoy-auth-partial-body"

// toRequest builds the core's view of a CheckRequest without copying headers.
func toRequest(req *authv3.CheckRequest) *authz.Request {
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	r := &authz.Request{
		Policy: attrs.GetContextExtensions()[PolicyKey],
		Method: http.GetMethod(),
		Scheme: http.GetScheme(),
		Host:   http.GetHost(),
		Path:   http.GetPath(),
		Header: checkHeader{m: http.GetHeaders(), list: http.GetHeaderMap().GetHeaders()},
		// Istio fills these with the peers' SPIFFE IDs under mTLS.
		SourcePrincipal:      attrs.GetSource().GetPrincipal(),
		DestinationPrincipal: attrs.GetDestination().GetPrincipal(),
		// URL-encoded PEM, with include_peer_certificate: true.
		ClientCert: attrs.GetSource().GetCertificate(),
	}
	// The body, when the filter sends it (with_request_body): raw_body
	// with pack_as_bytes, body otherwise. Envoy says it cut the body at
	// max_request_bytes in a header of its own.
	if raw := http.GetRawBody(); len(raw) > 0 {
		r.Body = raw
	} else if b := http.GetBody(); b != "" {
		r.Body = []byte(b)
	}
	// A client may send the header too: any value but Envoy's "false"
	// alone is read as cut short, so a client's copy can only refuse.
	for _, v := range r.Header.Values(partialBodyHeader) {
		r.BodyPartial = r.BodyPartial || v != "false"
	}
	if n := len(http.GetHeaders()) + len(http.GetHeaderMap().GetHeaders()); n > authz.MaxHeaders {
		r.Unreadable = fmt.Sprintf("%d header fields, over the bound of %d", n, authz.MaxHeaders)
	}
	return r
}

// checkHeader reads both header forms Envoy may send: the `headers` map and,
// when the filter sets encode_raw_headers, `header_map` (whose values arrive
// in raw_value). A request may carry either or both.
type checkHeader struct {
	m    map[string]string
	list []*corev3.HeaderValue
}

func (h checkHeader) Names(fn func(name string)) {
	for name := range h.m {
		fn(name)
	}
	for _, hv := range h.list {
		fn(hv.GetKey())
	}
}

// Each yields what Values yields, for every name, in one pass: the map's
// entries, then header_map's, a value seen before under the same name
// skipped.
func (h checkHeader) Each(fn func(name, value string)) {
	for name, v := range h.m {
		fn(name, v)
	}
	if len(h.list) == 0 {
		return
	}
	seen := make(map[[2]string]bool, len(h.m)+len(h.list))
	for name, v := range h.m {
		seen[[2]string{name, v}] = true
	}
	for _, hv := range h.list {
		name, v := strings.ToLower(hv.GetKey()), hv.GetValue()
		if raw := hv.GetRawValue(); len(raw) > 0 {
			v = string(raw)
		}
		if k := [2]string{name, v}; !seen[k] {
			seen[k] = true
			fn(hv.GetKey(), v)
		}
	}
}

func (h checkHeader) Values(name string) []string {
	var out []string
	if v, ok := h.m[name]; ok {
		out = append(out, v)
	}
	for _, hv := range h.list {
		if hv.GetKey() != name && !strings.EqualFold(hv.GetKey(), name) {
			continue
		}
		v := hv.GetValue()
		if raw := hv.GetRawValue(); len(raw) > 0 {
			v = string(raw)
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Package proxyprofile says how each kind of proxy describes the client's
// request on the auth request it sends. The HTTP door reads requests by
// it and the config checks names against it, so the table is written once.
package proxyprofile

import (
	"fmt"
	"strings"
)

// Profile says how one kind of proxy describes the client's request on the
// auth request it sends: which headers carry the method, target, host and
// scheme. The door reads those and nothing else, so a header the client
// wrote (and the proxy copied to the auth request) never describes the
// request: Traefik and Caddy copy the client's headers, so behind them an
// X-Original-URI is the client's own.
type Profile struct {
	Name string
	// Method, Target, Host and Scheme name the headers that carry the
	// client's request; the proxy sets each of them afresh on every auth
	// request. An empty Method or Host reads the auth request's own.
	Method, Target, Host, Scheme string
	// PathPrefix: the target is the auth request's own raw target after the
	// check path (Envoy's http_service path_prefix), and Target is unused.
	PathPrefix bool
}

// The proxies the door knows.
const (
	Nginx   = "nginx"
	Traefik = "traefik"
	Caddy   = "caddy"
	Envoy   = "envoy"
)

// Names lists the proxies For knows, the default first.
func Names() []string { return []string{Nginx, Traefik, Caddy, Envoy} }

// For returns the named proxy's profile; "" is nginx, the shipped
// recipe's.
func For(name string) (Profile, error) {
	switch name {
	case Nginx, "":
		// The shipped snippet (deploy/nginx/snippets/authz-subrequest.conf)
		// sets each with proxy_set_header, which replaces a client's copy.
		return Profile{Name: Nginx, Method: "X-Original-Method", Target: "X-Original-URI",
			Host: "X-Forwarded-Host", Scheme: "X-Forwarded-Proto"}, nil
	case Traefik, Caddy:
		// Traefik's forwardAuth and Caddy's forward_auth set these four on
		// the auth request, over whatever the client sent.
		return Profile{Name: name, Method: "X-Forwarded-Method", Target: "X-Forwarded-Uri",
			Host: "X-Forwarded-Host", Scheme: "X-Forwarded-Proto"}, nil
	case Envoy:
		// http_service keeps the client's method and Host, and appends the
		// client's raw :path to path_prefix; it sets x-forwarded-proto.
		return Profile{Name: Envoy, Scheme: "X-Forwarded-Proto", PathPrefix: true}, nil
	}
	return Profile{}, fmt.Errorf("unknown proxy %q: use %s", name, strings.Join(Names(), ", "))
}

// Where a request may name its policy at the HTTP door (http.policy_from).
// Each is written by the operator in the proxy's config, never by the
// client: the proxy must set (or clear) the header, and the query is read
// only on the exact check path, where nginx's auth_request sends the URI
// its config names. In Envoy's path-prefix mode the query after the prefix
// is the client's own and is never read.
const (
	PolicyFromHeader = "header"
	PolicyFromQuery  = "query"
	PolicyFromNone   = "none"
)

// ParsePolicyFrom reads http.policy_from; "" is PolicyFromHeader.
func ParsePolicyFrom(name string) (string, error) {
	switch name {
	case "":
		return PolicyFromHeader, nil
	case PolicyFromHeader, PolicyFromQuery, PolicyFromNone:
		return name, nil
	}
	return "", fmt.Errorf("%q: use %s, %s or %s", name, PolicyFromHeader, PolicyFromQuery, PolicyFromNone)
}

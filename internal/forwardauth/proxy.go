package forwardauth

import (
	"fmt"
	"net/http"
	"strings"
)

// Proxy says how one kind of proxy describes the client's request on the
// auth request it sends: which headers carry the method, target, host and
// scheme. The door reads those and nothing else, so a header the client
// wrote (and the proxy copied to the auth request) never describes the
// request: Traefik and Caddy copy the client's headers, so behind them an
// X-Original-URI is the client's own.
type Proxy struct {
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
	ProxyNginx   = "nginx"
	ProxyTraefik = "traefik"
	ProxyCaddy   = "caddy"
	ProxyEnvoy   = "envoy"
)

// ProxyNames lists the proxies ProxyFor knows, the default first.
func ProxyNames() []string { return []string{ProxyNginx, ProxyTraefik, ProxyCaddy, ProxyEnvoy} }

// ProxyFor returns the named proxy's profile; "" is nginx, the shipped
// recipe's.
func ProxyFor(name string) (Proxy, error) {
	switch name {
	case ProxyNginx, "":
		// The shipped snippet (deploy/nginx/snippets/authz-subrequest.conf)
		// sets each with proxy_set_header, which replaces a client's copy.
		return Proxy{Name: ProxyNginx, Method: "X-Original-Method", Target: "X-Original-URI",
			Host: "X-Forwarded-Host", Scheme: "X-Forwarded-Proto"}, nil
	case ProxyTraefik, ProxyCaddy:
		// Traefik's forwardAuth and Caddy's forward_auth set these four on
		// the auth request, over whatever the client sent.
		return Proxy{Name: name, Method: "X-Forwarded-Method", Target: "X-Forwarded-Uri",
			Host: "X-Forwarded-Host", Scheme: "X-Forwarded-Proto"}, nil
	case ProxyEnvoy:
		// http_service keeps the client's method and Host, and appends the
		// client's raw :path to path_prefix; it sets x-forwarded-proto.
		return Proxy{Name: ProxyEnvoy, Scheme: "X-Forwarded-Proto", PathPrefix: true}, nil
	}
	return Proxy{}, fmt.Errorf("unknown proxy %q: use %s", name, strings.Join(ProxyNames(), ", "))
}

// read returns the client's method, target, host and scheme as the proxy
// describes them, or why it cannot: a header the proxy always sets is
// missing or repeated, or (path-prefix mode) the target is not under the
// check path.
func (p Proxy) read(r *http.Request, checkPath string) (method, target, host, scheme, problem string) {
	method, host = r.Method, r.Host
	var ok bool
	if p.Method != "" {
		if method, ok = only(r.Header, p.Method); !ok {
			return "", "", "", "", p.missing(p.Method)
		}
	}
	if p.Host != "" {
		if host, ok = only(r.Header, p.Host); !ok {
			return "", "", "", "", p.missing(p.Host)
		}
	}
	scheme = "http"
	if p.Scheme != "" {
		if vs := r.Header.Values(p.Scheme); len(vs) > 1 {
			return "", "", "", "", p.missing(p.Scheme)
		} else if len(vs) == 1 && vs[0] != "" {
			scheme = vs[0]
		}
	}
	if p.PathPrefix {
		// The raw target as received: Envoy forwards the client's :path
		// upstream undecoded, so that is what is judged. The exact check
		// path alone is a request for "/".
		rest, found := strings.CutPrefix(r.RequestURI, checkPath)
		if !found || rest != "" && rest[0] != '/' && rest[0] != '?' {
			return "", "", "", "", "request target is not under the check path"
		}
		if rest == "" || rest[0] == '?' {
			rest = "/"
		}
		return method, rest, host, scheme, ""
	}
	if target, ok = only(r.Header, p.Target); !ok {
		return "", "", "", "", p.missing(p.Target)
	}
	return method, target, host, scheme, ""
}

func (p Proxy) missing(header string) string {
	return fmt.Sprintf("the %s profile reads %s, which must come exactly once", p.Name, header)
}

// only returns the one non-empty value of header, or false when it is
// absent, empty or repeated (a proxy that sets it sends one).
func only(h http.Header, header string) (string, bool) {
	vs := h.Values(header)
	if len(vs) != 1 || vs[0] == "" {
		return "", false
	}
	return vs[0], true
}

package forwardauth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/authz-dev/authz/internal/proxyprofile"
)

// read returns the client's method, target, host and scheme as the proxy
// describes them, or why it cannot: a header the proxy always sets is
// missing or repeated, or (path-prefix mode) the target is not under the
// check path.
func read(p proxyprofile.Profile, r *http.Request, checkPath string) (method, target, host, scheme, problem string) {
	method, host = r.Method, r.Host
	var ok bool
	if p.Method != "" {
		if method, ok = only(r.Header, p.Method); !ok {
			return "", "", "", "", missing(p, p.Method)
		}
	}
	if p.Host != "" {
		if host, ok = only(r.Header, p.Host); !ok {
			return "", "", "", "", missing(p, p.Host)
		}
	}
	scheme = "http"
	if p.Scheme != "" {
		if vs := r.Header.Values(p.Scheme); len(vs) > 1 {
			return "", "", "", "", missing(p, p.Scheme)
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
		return "", "", "", "", missing(p, p.Target)
	}
	return method, target, host, scheme, ""
}

func missing(p proxyprofile.Profile, header string) string {
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

package sender

import (
	"net/url"
	"strings"

	"github.com/authz-dev/authz/internal/rfc3986"
)

// SameTarget reports whether a proof's htu names the request: scheme, host
// and path, without query and fragment (RFC 9449 §4.3 step 9), compared
// after RFC 3986 §6.2.2 and §6.2.3 normalisation — case of scheme and host,
// default ports, percent-encoding case, unreserved characters decoded, dot
// segments removed, an empty path as "/". An htu with a query or fragment
// names no request.
func SameTarget(htu, scheme, host, target string) bool {
	u, err := url.Parse(htu)
	if err != nil || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(htu, "#") {
		return false
	}
	if scheme == "" || host == "" {
		return false
	}
	path, _, _ := strings.Cut(target, "?")
	path, _, _ = strings.Cut(path, "#")
	return strings.EqualFold(u.Scheme, scheme) &&
		origin(u.Scheme, u.Host) == origin(scheme, host) &&
		normalPath(u.EscapedPath()) == normalPath(path)
}

// origin lower-cases host and drops the scheme's default port.
func origin(scheme, host string) string {
	host = strings.ToLower(host)
	switch strings.ToLower(scheme) {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

// normalPath applies RFC 3986 §6.2.2: %XX upper-cased, unreserved
// characters decoded, dot segments removed (§5.2.4); "" is "/".
func normalPath(p string) string {
	out := rfc3986.RemoveDotSegments(rfc3986.NormalizeEscapes(p, false))
	if out == "" {
		return "/"
	}
	return out
}

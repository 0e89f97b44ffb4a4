package sender

import (
	"net/url"
	"strings"
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
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			v := unhex(p[i+1])<<4 | unhex(p[i+2])
			if isUnreserved(v) {
				b.WriteByte(v)
			} else {
				b.WriteByte('%')
				b.WriteString(strings.ToUpper(p[i+1 : i+3]))
			}
			i += 2
			continue
		}
		b.WriteByte(c)
	}
	out := removeDotSegments(b.String())
	if out == "" {
		return "/"
	}
	return out
}

// removeDotSegments is RFC 3986 §5.2.4.
func removeDotSegments(in string) string {
	var out []string
	for _, seg := range strings.Split(in, "/") {
		switch seg {
		case ".":
			continue
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, seg)
	}
	res := strings.Join(out, "/")
	// A trailing dot segment leaves its slash behind ("/a/." is "/a/").
	if strings.HasSuffix(in, "/.") || strings.HasSuffix(in, "/..") {
		res += "/"
	}
	return res
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

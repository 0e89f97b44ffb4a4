// Package rfc3986 holds the URI steps of RFC 3986 that more than one
// package needs: the normalisation readers of a request target share
// (routes and rules through authz's NormalizePath, DPoP's htu comparison
// through sender.SameTarget), and what the config's checks call an
// http(s) URL.
package rfc3986

import (
	"net/url"
	"strings"
)

// IsHTTPURL reports whether s is an absolute http or https URI with a
// host: what an endpoint, an issuer or a key set's URL must be.
func IsHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// NormalizeEscapes applies §6.2.2.1 and §6.2.2.2 to a path: percent-
// encoded unreserved characters decoded, the hex of every other escape
// upper-cased, so equal paths compare equal. A "%" that begins no valid
// escape is kept as it is, or, with escapeStray, written as "%25", so no
// escape can form from what follows it once decoded ("%%61" never becomes
// "%a"). A path with no "%" is returned as it is, without allocating.
func NormalizeEscapes(p string, escapeStray bool) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p) + 2)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) && IsHex(p[i+1]) && IsHex(p[i+2]) {
			if d := Unhex(p[i+1])<<4 | Unhex(p[i+2]); IsUnreserved(d) {
				b.WriteByte(d)
			} else {
				b.WriteByte('%')
				b.WriteByte(upper(p[i+1]))
				b.WriteByte(upper(p[i+2]))
			}
			i += 2
			continue
		}
		if c == '%' && escapeStray {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// RemoveDotSegments is §5.2.4 over "/"-separated segments: "." dropped,
// ".." removing the segment before it (never above the root), and a
// trailing dot segment leaving its slash ("/a/." is "/a/").
func RemoveDotSegments(in string) string {
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
	if strings.HasSuffix(in, "/.") || strings.HasSuffix(in, "/..") {
		res += "/"
	}
	return res
}

// IsHex reports whether c is a hex digit.
func IsHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// Unhex is the value of the hex digit c.
func Unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// IsUnreserved reports whether c is unreserved (§2.3): never needs escaping.
func IsUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

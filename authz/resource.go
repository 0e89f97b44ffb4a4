package authz

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// A protected resource (RFC 9728) is named by an https URL: the MCP
// server's canonical URI, say. A policy that guards one accepts only
// tokens whose audience names it (RFC 8707), and its challenges point the
// client at the resource's metadata.

// CanonicalResource is the form resource identifiers are compared in: the
// scheme and host lower case (RFC 3986 §6.2.2.1), a default port dropped,
// and a trailing slash dropped from the path, so https://MCP.example.com/mcp/
// and https://mcp.example.com:443/mcp name one resource. The path is
// compared as written otherwise (case and percent-encoding included), and
// an identifier with a fragment, user information, or no host is not one
// (RFC 9728 §1.2, RFC 8707 §2).
func CanonicalResource(id string) (string, error) {
	u, err := url.Parse(id)
	if err != nil {
		return "", err
	}
	switch {
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return "", errors.New("not an absolute URL")
	case u.Fragment != "" || strings.Contains(id, "#"):
		return "", errors.New("a resource identifier has no fragment")
	case u.User != nil:
		return "", errors.New("a resource identifier has no user information")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", errors.New("not an http or https URL")
	}
	host := strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil && (scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	c := scheme + "://" + host + path
	if u.RawQuery != "" || u.ForceQuery {
		c += "?" + u.RawQuery
	}
	return c, nil
}

// audienceNamesResource reports whether the "aud" claim (a string or an
// array) names the resource, canonical, by CanonicalResource.
func audienceNamesResource(claims map[string]any, resource string) bool {
	match := func(v any) bool {
		s, ok := v.(string)
		if !ok {
			return false
		}
		c, err := CanonicalResource(s)
		return err == nil && c == resource
	}
	switch aud := claims["aud"].(type) {
	case string:
		return match(aud)
	case []any:
		for _, v := range aud {
			if match(v) {
				return true
			}
		}
	case []string:
		for _, v := range aud {
			if match(v) {
				return true
			}
		}
	}
	return false
}

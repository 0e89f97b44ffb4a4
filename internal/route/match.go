package route

import (
	"strings"

	"github.com/authz-dev/authz/authz"
)

// matches reports whether every field the route sets holds for req. The
// cheap comparisons come first; nothing here allocates unless the path
// needs normalising or a header is compared.
func (c *compiled) matches(req *authz.Request, host string) bool {
	if len(c.methods) > 0 && !contains(c.methods, req.Method) {
		return false
	}
	if len(c.hosts) > 0 && !c.matchHost(host) {
		return false
	}
	if len(c.destinations) > 0 && !matchPrincipal(c.destinations, req.DestinationPrincipal) {
		return false
	}
	if len(c.sources) > 0 && !matchPrincipal(c.sources, req.SourcePrincipal) {
		return false
	}
	if !c.matchPath(req.NormalizedPath()) {
		return false
	}
	for i, name := range c.headerNames {
		vs := req.Header.Values(name)
		if len(vs) == 0 {
			return false
		}
		if want := c.headerValues[i]; want != "*" && !contains(vs, want) {
			return false
		}
	}
	return true
}

func (c *compiled) matchPath(p string) bool {
	switch {
	case c.regex != nil:
		return c.regex.MatchString(p)
	case c.path != "":
		if c.Match.PathIgnoreCase {
			return strings.EqualFold(p, c.path)
		}
		return p == c.path
	case c.prefix != "":
		if len(p) < len(c.prefix) {
			return false
		}
		if c.Match.PathIgnoreCase {
			if !strings.EqualFold(p[:len(c.prefix)], c.prefix) {
				return false
			}
			return segmentPrefix(p, p[:len(c.prefix)])
		}
		// Whole segments, as Envoy's path_separated_prefix: "/api" is
		// /api and /api/…, never /apiary.
		return segmentPrefix(p, c.prefix)
	}
	return true
}

// matchHost compares host, its port already stripped.
func (c *compiled) matchHost(host string) bool {
	for _, h := range c.hosts {
		if h.exact != "" {
			if strings.EqualFold(host, h.exact) {
				return true
			}
			continue
		}
		if len(host) > len(h.suffix) && host[len(host)-len(h.suffix)] == '.' && strings.EqualFold(host[len(host)-len(h.suffix):], h.suffix) {
			return true
		}
	}
	return false
}

func matchPrincipal(ms []principalMatch, p string) bool {
	if p == "" {
		return false
	}
	for _, m := range ms {
		if m.prefix && len(p) > len(m.value) && strings.HasPrefix(p, m.value) || !m.prefix && p == m.value {
			return true
		}
	}
	return false
}

// stripPort drops a trailing :port, leaving bracketed IPv6 literals whole.
func stripPort(host string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.IndexByte(host[i:], ']') >= 0 {
		return host
	}
	if strings.HasPrefix(host, "[") {
		return host[:i]
	}
	if strings.Count(host, ":") > 1 {
		return host // a bare IPv6 address
	}
	return host[:i]
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

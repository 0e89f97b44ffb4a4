package config

import (
	"slices"
	"strings"
)

// WrittenHeaders are the headers the config's policies write to the
// upstream (claim headers, payload headers, upstream tokens' headers other
// than Authorization), lower-case and sorted: what a proxy must pass on.
func (c *Config) WrittenHeaders() []string {
	var out []string
	add := func(h string) {
		h = strings.ToLower(h)
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	for _, name := range c.policyNames() {
		p := c.Policies[name]
		for _, h := range p.Headers {
			add(h)
		}
		if p.PayloadHeader != nil {
			add(*p.PayloadHeader)
		}
		if t := p.UpstreamToken; t.Mints() && t.Header != "authorization" {
			add(t.Header)
		}
	}
	slices.Sort(out)
	return out
}

// nginxCarried are the claim headers the shipped nginx snippet
// (deploy/nginx/snippets/authz-upstream-headers.conf) passes on.
var nginxCarried = []string{"x-client-id", "x-scopes", "x-user-id", "x-username"}

// warnNginxHeaders: behind nginx, a header the snippet does not carry
// never reaches the backend, silently.
func (c *Config) warnNginxHeaders(p *problems) {
	if c.HTTP.Proxy != "nginx" {
		return
	}
	var lost []string
	for _, h := range c.WrittenHeaders() {
		if !slices.Contains(nginxCarried, h) {
			lost = append(lost, h)
		}
	}
	if len(lost) > 0 {
		p.warn("http.proxy", "behind the shipped nginx recipe, the headers %s never reach the backend: nginx passes on only the headers its snippet names; "+
			"authz nginx-snippet -config FILE prints the lines for every header this config writes", strings.Join(lost, ", "))
	}
}

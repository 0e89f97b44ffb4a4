// Package forwardauth is the HTTP door: nginx auth_request, Traefik and
// Caddy forward auth, and Envoy's HTTP ext_authz mode ask it about a request
// by passing the request's headers on a call of their own.
package forwardauth

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/authz-dev/authz/authz"
)

// Door names this door in metrics and logs.
const Door = "http"

// Authorizer is what the door needs from the core: decisions, and how to
// answer them (both may change with a config reload).
type Authorizer interface {
	Authorize(ctx context.Context, req *authz.Request) authz.Decision
	Answers() *authz.Answers
}

// Options configure the door.
type Options struct {
	// Path is where the door listens; requests under Path+"/" are Envoy's
	// path-prefix mode, where the original path follows the prefix.
	Path string
	// AllowStatus answers an allow decision (200 or 204).
	AllowStatus int
	Observer    authz.Observer
}

// Handler answers forward-auth requests.
type Handler struct {
	auth Authorizer
	opts Options
}

// New returns the door over auth.
func New(auth Authorizer, opts Options) *Handler {
	if opts.Path == "" {
		opts.Path = "/check"
	}
	if opts.AllowStatus == 0 {
		opts.AllowStatus = http.StatusOK
	}
	return &Handler{auth: auth, opts: opts}
}

// PolicyParam and PolicyHeader pick a policy per request. The query
// parameter wins: it is written by the operator in the proxy's config,
// whereas a header may have come from the client unless the proxy sets it.
const (
	PolicyParam  = "policy"
	PolicyHeader = "X-Authz-Policy"
)

// HeadersToRemoveHeader lists, for Envoy's HTTP ext_authz mode, the
// upstream request headers to drop (claim headers whose claim is absent).
const HeadersToRemoveHeader = "x-envoy-auth-headers-to-remove"

// ServeHTTP answers one forward-auth request, whatever its method.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.opts.Observer.CheckStarted(Door)
	req := h.toRequest(r)
	d := h.auth.Authorize(r.Context(), req)
	h.write(w, &d)
	h.opts.Observer.CheckDone(r.Context(), &d, Door, r.Header.Get("X-Request-Id"), time.Since(start))
}

// toRequest reads the original request from the conventions of nginx
// (X-Original-Method, X-Original-URI) and Traefik/Caddy (X-Forwarded-*),
// falling back to Envoy's path-prefix mode.
func (h *Handler) toRequest(r *http.Request) *authz.Request {
	policy := r.URL.Query().Get(PolicyParam)
	if policy == "" {
		policy = r.Header.Get(PolicyHeader)
	}
	method := firstOf(r.Header.Get("X-Original-Method"), r.Header.Get("X-Forwarded-Method"), r.Method)
	path := firstOf(r.Header.Get("X-Original-URI"), r.Header.Get("X-Forwarded-Uri"))
	if path == "" {
		path = strings.TrimPrefix(r.URL.Path, h.opts.Path)
		if path == "" {
			path = "/"
		}
	}
	return &authz.Request{
		Policy: policy,
		Method: method,
		Host:   firstOf(r.Header.Get("X-Forwarded-Host"), r.Host),
		Path:   path,
		Header: header(r.Header),
	}
}

func (h *Handler) write(w http.ResponseWriter, d *authz.Decision) {
	ans := h.auth.Answers()
	hdr := w.Header()
	hdr.Set(ans.Header, d.Outcome.String())
	hdr.Set("Cache-Control", "no-store")
	if d.Outcome == authz.Allow {
		for _, v := range d.Headers {
			hdr.Set(v.Name, v.Value)
		}
		if len(d.RemoveHeaders) > 0 {
			hdr.Set(HeadersToRemoveHeader, strings.Join(d.RemoveHeaders, ","))
		}
		w.WriteHeader(h.opts.AllowStatus)
		return
	}
	if c := ans.WWWAuthenticate(d); c != "" {
		hdr.Set("WWW-Authenticate", c)
	}
	if ra := ans.RetryAfter(d); ra != "" {
		hdr.Set("Retry-After", ra)
	}
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(ans.Status(d.Outcome))
	w.Write(ans.Body(d))
}

// header adapts http.Header to authz.Header (lower-case names in, any case stored).
type header http.Header

func (h header) Values(name string) []string { return http.Header(h).Values(name) }

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Package forwardauth is the HTTP door: nginx auth_request, Traefik and
// Caddy forward auth, and Envoy's HTTP ext_authz mode ask it about a request
// by passing the request's headers on a call of their own.
package forwardauth

import (
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/proxyprofile"
)

// Door names this door in metrics and logs, SpanName its Check span.
const (
	Door     = "http"
	SpanName = "authz.forward_auth"
)

// Options configure the door.
type Options struct {
	// Path is where the door listens; with the envoy proxy, requests under
	// Path+"/" are Envoy's path-prefix mode, where the original target
	// follows the prefix.
	Path string
	// Proxy is the proxy in front, whose headers describe the request
	// (proxyprofile.For; the zero value is nginx's).
	Proxy proxyprofile.Profile
	// PolicyFrom says where a request may name its policy:
	// proxyprofile.PolicyFromHeader (default), proxyprofile.PolicyFromQuery or
	// proxyprofile.PolicyFromNone.
	PolicyFrom string
	// ClientCertHeader names the header in which the proxy passes the
	// client's certificate as URL-encoded PEM (nginx:
	// proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert), for
	// certificate-bound tokens; "" reads none.
	ClientCertHeader string
	// TrustXFCC reads the client certificate's hash from
	// x-forwarded-client-cert. Only for a proxy in front that sets that
	// header afresh on every request; otherwise a client writes it.
	TrustXFCC bool
	// Observer is told of every Check (nil: nothing is recorded).
	Observer authz.Observer
}

// Handler answers forward-auth requests.
type Handler struct {
	auth authz.Decider
	opts Options
	// names holds the canonical forms of the header names answers use
	// (claim headers, the outcome header): few, and the same on every
	// answer, so each is canonicalised once, not per answer.
	names sync.Map
	// The values every answer writes alike, shared and never modified.
	noStore, empty []string
}

// canonical is http.CanonicalHeaderKey(name), remembered.
func (h *Handler) canonical(name string) string {
	if c, ok := h.names.Load(name); ok {
		return c.(string)
	}
	c := http.CanonicalHeaderKey(name)
	h.names.Store(name, c)
	return c
}

// New returns the door over auth.
func New(auth authz.Decider, opts Options) *Handler {
	if opts.Path == "" {
		opts.Path = "/check"
	}
	if opts.PolicyFrom == "" {
		opts.PolicyFrom = proxyprofile.PolicyFromHeader
	}
	if opts.Proxy.Name == "" {
		opts.Proxy, _ = proxyprofile.For("")
	}
	if opts.Observer == nil {
		opts.Observer = authz.Unobserved{}
	}
	return &Handler{auth: auth, opts: opts, noStore: []string{"no-store"}, empty: []string{""}}
}

// Path is where the door answers; with the envoy proxy, requests under
// Path+"/" are Envoy's path-prefix mode.
func (h *Handler) Path() string { return h.opts.Path }

// Serves reports whether a request for target (raw, query included) is
// the door's: the check path, or in Envoy's path-prefix mode a path under
// it.
func (h *Handler) Serves(target string) bool {
	path, _, _ := strings.Cut(target, "?")
	return path == h.opts.Path || h.opts.Proxy.PathPrefix && strings.HasPrefix(path, h.opts.Path+"/")
}

// Front returns a handler that serves the door's requests itself and
// passes the rest to next. It looks at the raw target, before next (a
// ServeMux) could clean it: a ServeMux answers "/check//x" or
// "/check/a/./b" with a redirect to the client, and decodes what Envoy
// forwards encoded.
func (h *Handler) Front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.Serves(r.RequestURI) {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// PolicyParam and PolicyHeader name a policy per request, as Options.PolicyFrom allows.
const (
	PolicyParam  = "policy"
	PolicyHeader = "X-Authz-Policy"
)

// HeadersToRemoveHeader lists, for Envoy's HTTP ext_authz mode, the
// upstream request headers to drop (claim headers whose claim is absent).
const HeadersToRemoveHeader = "x-envoy-auth-headers-to-remove"

// ServeHTTP answers one forward-auth request, whatever its method.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// net/http would recover too, but by dropping the connection: the
	// proxy would see no answer. A panic in the door answers error.
	defer func() {
		if rec := recover(); rec != nil {
			h.opts.Observer.Panicked(Door, rec, debug.Stack())
			d := authz.Decision{Outcome: authz.Error, Reason: fmt.Sprintf("panic: %v", rec), Description: "authorization failed"}
			h.write(w, &d)
		}
	}()
	start := time.Now()
	req := h.toRequest(r)
	ctx := h.opts.Observer.CheckStarted(r.Context(), Door, req.Header)
	d := h.auth.Authorize(ctx, req)
	h.write(w, &d)
	h.opts.Observer.CheckDone(ctx, &d, Door, r.Header.Get("X-Request-Id"), time.Since(start))
}

// toRequest reads the original request the way the proxy in front
// describes it, and only so (see proxyprofile.Profile).
func (h *Handler) toRequest(r *http.Request) *authz.Request {
	method, target, host, scheme, undescribed := read(h.opts.Proxy, r, h.opts.Path)
	var problem string
	if n := fields(r.Header); n > authz.MaxHeaders {
		problem = fmt.Sprintf("%d header fields, over the bound of %d", n, authz.MaxHeaders)
	}
	var policy string
	// Only on the exact check path: in path-prefix mode the query after
	// the prefix is the client's.
	path, query, _ := strings.Cut(r.RequestURI, "?")
	inQuery := path == h.opts.Path && query != "" && r.URL.Query().Has(PolicyParam)
	switch h.opts.PolicyFrom {
	case proxyprofile.PolicyFromHeader:
		policy = r.Header.Get(PolicyHeader)
		if inQuery && undescribed == "" {
			// The proxy's config picks a policy where this door does
			// not look: applying the default instead would apply a
			// weaker policy than the operator wrote.
			undescribed = "it names a policy in the check URI's query (?policy=), which http.policy_from: query reads; this listener reads " + PolicyHeader
		}
	case proxyprofile.PolicyFromQuery:
		if inQuery {
			policy = r.URL.Query().Get(PolicyParam)
		}
		if r.Header.Get(PolicyHeader) != "" && undescribed == "" {
			undescribed = "it names a policy in " + PolicyHeader + ", which http.policy_from: header reads; this listener reads the check URI's query (?policy=)"
		}
	case proxyprofile.PolicyFromNone:
		if undescribed == "" && (inQuery || r.Header.Get(PolicyHeader) != "") {
			undescribed = "it names a policy, but http.policy_from is none: routes choose the policy here"
		}
	}
	req := &authz.Request{
		Policy:      policy,
		Method:      method,
		Scheme:      scheme,
		Host:        host,
		Path:        target,
		Header:      header(r.Header),
		Unreadable:  problem,
		Undescribed: undescribed,
	}
	if h.opts.Proxy.PathPrefix && r.ContentLength != 0 {
		// Envoy's HTTP mode sends the original body with
		// with_request_body (and says when it cut it); the other
		// proxies send none. Kept to MaxBodyBytes, for rules over it.
		body, err := io.ReadAll(io.LimitReader(r.Body, authz.MaxBodyBytes+1))
		req.BodyPartial = err != nil || len(body) > authz.MaxBodyBytes
		for _, v := range r.Header.Values("X-Envoy-Auth-Partial-Body") {
			req.BodyPartial = req.BodyPartial || v != "false"
		}
		req.Body = body[:min(len(body), authz.MaxBodyBytes)]
	}
	if h.opts.ClientCertHeader != "" {
		req.ClientCert = r.Header.Get(h.opts.ClientCertHeader)
	}
	if h.opts.TrustXFCC && req.ClientCert == "" {
		req.ClientCertHash = xfccHash(r.Header.Values("X-Forwarded-Client-Cert"))
	}
	return req
}

func (h *Handler) write(w http.ResponseWriter, d *authz.Decision) {
	ans := h.auth.Answers()
	hdr := w.Header()
	hdr[h.canonical(ans.OutcomeHeader)] = []string{d.Outcome.String()}
	hdr["Cache-Control"] = h.noStore
	if ans.ProxyCache {
		// nginx's proxy_cache honours X-Accel-Expires over Cache-Control:
		// every answer says how long it may be reused, most of them 0.
		hdr["X-Accel-Expires"] = []string{strconv.FormatInt(int64(d.ProxyCache/time.Second), 10)}
	}
	if d.Outcome == authz.Allow {
		for _, v := range d.Headers {
			hdr[h.canonical(v.Name)] = []string{v.Value}
		}
		if len(d.RemoveHeaders) > 0 {
			hdr.Set(HeadersToRemoveHeader, strings.Join(d.RemoveHeaders, ","))
		}
		// Every owned header the decision does not set is answered empty:
		// a proxy that copies named headers from the answer (Caddy's
		// copy_headers, Traefik's authResponseHeaders) then replaces the
		// client's copy with nothing, where an absent header would leave
		// the client's (Traefik) or Caddy 2.6's placeholder text
		// "{http.reverse_proxy.header.X-User-Id}" in its place.
		for _, name := range d.RemoveHeaders {
			if strings.Contains(name, "_") {
				continue
			}
			if key := h.canonical(name); hdr[key] == nil {
				hdr[key] = h.empty
			}
		}
		w.WriteHeader(ans.Status(authz.Allow))
		return
	}
	for _, h := range ans.DenialHeaders(d) {
		hdr.Set(h.Name, h.Value)
	}
	w.WriteHeader(ans.Status(d.Outcome))
	w.Write(ans.Body(d))
}

// header adapts http.Header to authz.Header (lower-case names in, any case stored).
type header http.Header

func (h header) Values(name string) []string { return http.Header(h).Values(name) }

func (h header) Names(fn func(name string)) {
	for name := range h {
		fn(name)
	}
}

func (h header) Each(fn func(name, value string)) {
	for name, vs := range h {
		for _, v := range vs {
			fn(name, v)
		}
	}
}

// fields counts the request's header fields.
func fields(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

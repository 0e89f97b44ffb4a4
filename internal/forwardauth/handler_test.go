package forwardauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/proxyprofile"
)

// recorder is a fake core: it remembers the request it was asked about
// and answers with a fixed decision.
type recorder struct {
	got      *authz.Request
	decision authz.Decision
	answers  *authz.Answers
}

func (r *recorder) Authorize(_ context.Context, req *authz.Request) authz.Decision {
	r.got = req
	return r.decision
}

func (r *recorder) Answers() *authz.Answers { return r.answers }

func serve(t *testing.T, opts Options, d authz.Decision, method, target string, headers map[string]string) (*recorder, *httptest.ResponseRecorder) {
	t.Helper()
	rec := &recorder{decision: d, answers: authz.DefaultAnswers()}
	opts.Observer = authz.Unobserved{}
	h := New(rec, opts)
	req := httptest.NewRequest(method, target, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return rec, w
}

func proxy(t *testing.T, name string) proxyprofile.Profile {
	t.Helper()
	p, err := proxyprofile.For(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Each proxy's own headers describe the request, and only those: behind
// Traefik and Caddy, which copy the client's headers to the auth request,
// an X-Original-URI is the client's; behind nginx an X-Forwarded-Uri is.
func TestOriginalRequest(t *testing.T) {
	allow := authz.Decision{Outcome: authz.Allow}
	nginxHeaders := map[string]string{"X-Original-Method": "DELETE", "X-Original-URI": "/orders/1?a=b", "X-Forwarded-Host": "shop", "X-Forwarded-Proto": "https"}
	forwarded := map[string]string{"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/admin/users", "X-Forwarded-Host": "shop", "X-Forwarded-Proto": "https"}
	with := func(base map[string]string, extra ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	cases := []struct {
		name, proxy, method, target string
		headers                     map[string]string
		wantMethod, wantPath        string
		wantHost, wantScheme        string
	}{
		{"nginx", "nginx", "GET", "/check", nginxHeaders, "DELETE", "/orders/1?a=b", "shop", "https"},
		{"nginx is the default", "", "GET", "/check", nginxHeaders, "DELETE", "/orders/1?a=b", "shop", "https"},
		{"nginx ignores X-Forwarded-Uri and -Method", "nginx", "GET", "/check",
			with(nginxHeaders, "X-Forwarded-Uri", "/catalog/x", "X-Forwarded-Method", "GET"), "DELETE", "/orders/1?a=b", "shop", "https"},
		{"traefik", "traefik", "GET", "/check", forwarded, "POST", "/admin/users", "shop", "https"},
		{"traefik ignores a client's X-Original-URI and -Method", "traefik", "GET", "/check",
			with(forwarded, "X-Original-URI", "/catalog/x", "X-Original-Method", "GET"), "POST", "/admin/users", "shop", "https"},
		{"caddy ignores a client's X-Original-URI and -Method", "caddy", "GET", "/check",
			with(forwarded, "X-Original-URI", "/catalog/x", "X-Original-Method", "GET"), "POST", "/admin/users", "shop", "https"},
		{"envoy path-prefix mode", "envoy", "PATCH", "/check/orders/7?x=1", nil, "PATCH", "/orders/7?x=1", "example.com", "http"},
		{"envoy ignores every X-Original and X-Forwarded target", "envoy", "PATCH", "/check/admin/users",
			with(forwarded, "X-Original-URI", "/catalog/x", "X-Original-Method", "GET"), "PATCH", "/admin/users", "example.com", "https"},
		{"envoy keeps the target raw", "envoy", "GET", "/check/admin/..%2F..%2Fcatalog/x", nil, "GET", "/admin/..%2F..%2Fcatalog/x", "example.com", "http"},
		{"envoy bare check", "envoy", "GET", "/check", nil, "GET", "/", "example.com", "http"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, _ := serve(t, Options{Proxy: proxy(t, c.proxy)}, allow, c.method, c.target, c.headers)
			g := rec.got
			if g.Unreadable != "" || g.Method != c.wantMethod || g.Path != c.wantPath || g.Host != c.wantHost || g.Scheme != c.wantScheme {
				t.Errorf("got %s %s host %s scheme %s (unreadable %q)", g.Method, g.Path, g.Host, g.Scheme, g.Unreadable)
			}
		})
	}
}

// A request the proxy did not describe as it always does is refused, not
// read from elsewhere.
func TestUnreadableRequest(t *testing.T) {
	allow := authz.Decision{Outcome: authz.Allow}
	cases := []struct {
		name, proxy, target string
		headers             map[string]string
	}{
		{"nginx without X-Original-URI", "nginx", "/check", map[string]string{"X-Original-Method": "GET", "X-Forwarded-Host": "shop", "X-Forwarded-Uri": "/x"}},
		{"nginx without X-Original-Method", "nginx", "/check", map[string]string{"X-Original-URI": "/x", "X-Forwarded-Host": "shop"}},
		{"nginx without X-Forwarded-Host", "nginx", "/check", map[string]string{"X-Original-URI": "/x", "X-Original-Method": "GET"}},
		{"traefik without X-Forwarded-Uri", "traefik", "/check", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Host": "shop", "X-Original-URI": "/x"}},
		{"caddy without X-Forwarded-Method", "caddy", "/check", map[string]string{"X-Forwarded-Uri": "/x", "X-Forwarded-Host": "shop", "X-Original-Method": "GET"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, _ := serve(t, Options{Proxy: proxy(t, c.proxy)}, allow, "GET", c.target, c.headers)
			if rec.got.Undescribed == "" {
				t.Errorf("read as %s %s host %s", rec.got.Method, rec.got.Path, rec.got.Host)
			}
		})
	}
	t.Run("a repeated X-Original-URI", func(t *testing.T) {
		rec := &recorder{decision: allow, answers: authz.DefaultAnswers()}
		h := New(rec, Options{Observer: authz.Unobserved{}})
		req := httptest.NewRequest("GET", "/check", nil)
		req.Header.Add("X-Original-URI", "/catalog/x")
		req.Header.Add("X-Original-URI", "/admin")
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("X-Forwarded-Host", "shop")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if rec.got.Undescribed == "" {
			t.Errorf("read as %s", rec.got.Path)
		}
	})
}

// Front hands the door its requests before a ServeMux can clean them: no
// redirect of "/check//orders" to the client, and path-prefix mode only
// for Envoy.
func TestFront(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux := http.NewServeMux()
	mux.Handle("/", next)
	cases := []struct {
		proxy, target string
		door          bool
	}{
		{"envoy", "/check//orders", true},
		{"envoy", "/check/a/./b", true},
		{"envoy", "/check/../metrics", true},
		{"envoy", "/check?policy=x", true},
		{"envoy", "/checkx", false},
		{"envoy", "/metrics", false},
		{"nginx", "/check", true},
		{"nginx", "/check/orders", false},
		{"traefik", "/check//orders", false},
	}
	for _, c := range cases {
		rec := &recorder{decision: authz.Decision{Outcome: authz.Allow}, answers: authz.DefaultAnswers()}
		h := New(rec, Options{Proxy: proxy(t, c.proxy), Observer: authz.Unobserved{}})
		w := httptest.NewRecorder()
		h.Front(mux).ServeHTTP(w, httptest.NewRequest("GET", c.target, nil))
		if door := rec.got != nil; door != c.door || door && w.Code != 200 {
			t.Errorf("%s %s: door %v, status %d", c.proxy, c.target, door, w.Code)
		}
	}
}

func TestPolicySource(t *testing.T) {
	allow := authz.Decision{Outcome: authz.Allow}
	hdr := map[string]string{PolicyHeader: "from-header"}
	cases := []struct {
		from, target string
		want         string
	}{
		{"", "/check?policy=from-query", "from-header"},
		{proxyprofile.PolicyFromHeader, "/check/x?policy=from-query", "from-header"},
		{proxyprofile.PolicyFromQuery, "/check?policy=from-query", "from-query"},
		{proxyprofile.PolicyFromQuery, "/check/orders?policy=from-query", ""}, // path-prefix: the client's query
		{proxyprofile.PolicyFromQuery, "/check/?policy=from-query", ""},
		{proxyprofile.PolicyFromNone, "/check?policy=from-query", ""},
	}
	for _, c := range cases {
		rec, _ := serve(t, Options{PolicyFrom: c.from, Proxy: proxy(t, "envoy")}, allow, "GET", c.target, hdr)
		if rec.got.Policy != c.want {
			t.Errorf("policy_from %q, %s: policy %q, want %q", c.from, c.target, rec.got.Policy, c.want)
		}
	}
}

func TestAnswers(t *testing.T) {
	t.Run("allow", func(t *testing.T) {
		d := authz.Decision{Outcome: authz.Allow, Headers: []authz.HeaderValue{{Name: "x-user-id", Value: "alice"}}, RemoveHeaders: []string{"x_user_id", "x-email"}}
		_, w := serve(t, Options{}, d, "GET", "/check", nil)
		if w.Code != 200 || w.Header().Get("X-User-Id") != "alice" || w.Header().Get("X-Authz-Outcome") != "allow" ||
			w.Header().Get(HeadersToRemoveHeader) != "x_user_id,x-email" || w.Header().Get("Cache-Control") != "no-store" || w.Body.Len() != 0 {
			t.Errorf("%d %v %q", w.Code, w.Header(), w.Body)
		}
	})
	t.Run("a denial: status, challenge, JSON body; no claim headers", func(t *testing.T) {
		d := authz.Decision{Outcome: authz.Forbidden, RequiredScopes: []string{"w"}, Headers: []authz.HeaderValue{{Name: "x-user-id", Value: "alice"}}}
		_, w := serve(t, Options{}, d, "GET", "/check", nil)
		if w.Code != 403 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="insufficient_scope", scope="w"`) ||
			w.Header().Get("Content-Type") != "application/json" || !strings.Contains(w.Body.String(), `"insufficient_scope"`) || w.Header().Get("X-User-Id") != "" {
			t.Errorf("%d %v %q", w.Code, w.Header(), w.Body)
		}
	})
}

// panicCore panics on its first request and allows afterwards.
type panicCore struct{ calls int }

func (c *panicCore) Authorize(context.Context, *authz.Request) authz.Decision {
	if c.calls++; c.calls == 1 {
		panic("door bug")
	}
	return authz.Decision{Outcome: authz.Allow}
}

func (c *panicCore) Answers() *authz.Answers { return authz.DefaultAnswers() }

type panicObserver struct {
	authz.Unobserved
	wheres []string
}

func (p *panicObserver) Panicked(where string, _ any, _ []byte) { p.wheres = append(p.wheres, where) }

// A panic under the HTTP door answers the error outcome (a 503 the proxy
// sees, not a dropped connection) over a real listener, and the next
// request is answered.
func TestAPanicAnswersErrorAtTheHTTPDoor(t *testing.T) {
	obs := &panicObserver{}
	srv := httptest.NewServer(New(&panicCore{}, Options{Proxy: proxyprofile.Profile{Name: proxyprofile.Envoy, PathPrefix: true}, Observer: obs}))
	defer srv.Close()
	for i, want := range []int{503, 200} {
		resp, err := http.Get(srv.URL + "/check/orders")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("X-Authz-Outcome") != map[int]string{503: "error", 200: "allow"}[want] {
			t.Errorf("request %d: %d %q, want %d", i, resp.StatusCode, resp.Header.Get("X-Authz-Outcome"), want)
		}
	}
	if len(obs.wheres) != 1 || obs.wheres[0] != Door {
		t.Errorf("panics reported at %v", obs.wheres)
	}
}

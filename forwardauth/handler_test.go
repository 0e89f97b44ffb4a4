package forwardauth

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
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

type nopObserver struct{}

func (nopObserver) CheckStarted(ctx context.Context, _ string, _ authz.Header) context.Context {
	return ctx
}
func (nopObserver) CheckDone(context.Context, *authz.Decision, string, string, time.Duration) {}

func serve(t *testing.T, opts Options, d authz.Decision, method, target string, headers map[string]string) (*recorder, *httptest.ResponseRecorder) {
	t.Helper()
	rec := &recorder{decision: d, answers: authz.DefaultAnswers()}
	opts.Observer = nopObserver{}
	h := New(rec, opts)
	req := httptest.NewRequest(method, target, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return rec, w
}

func TestOriginalRequest(t *testing.T) {
	allow := authz.Decision{Outcome: authz.Allow}
	cases := []struct {
		name, method, target string
		headers              map[string]string
		wantMethod, wantPath string
		wantHost             string
	}{
		{"nginx", "GET", "/check", map[string]string{"X-Original-Method": "DELETE", "X-Original-URI": "/orders/1?a=b", "X-Forwarded-Host": "shop"}, "DELETE", "/orders/1?a=b", "shop"},
		{"traefik and caddy", "GET", "/check", map[string]string{"X-Forwarded-Method": "PUT", "X-Forwarded-Uri": "/items", "X-Forwarded-Host": "shop"}, "PUT", "/items", "shop"},
		{"envoy path-prefix mode", "PATCH", "/check/orders/7?x=1", nil, "PATCH", "/orders/7?x=1", "example.com"},
		{"bare check", "GET", "/check", nil, "GET", "/", "example.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, _ := serve(t, Options{}, allow, c.method, c.target, c.headers)
			if rec.got.Method != c.wantMethod || rec.got.Path != c.wantPath || rec.got.Host != c.wantHost {
				t.Errorf("got %s %s %s", rec.got.Method, rec.got.Path, rec.got.Host)
			}
		})
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
		{PolicyFromHeader, "/check/x?policy=from-query", "from-header"},
		{PolicyFromQuery, "/check?policy=from-query", "from-query"},
		{PolicyFromQuery, "/check/orders?policy=from-query", ""}, // path-prefix: the client's query
		{PolicyFromNone, "/check?policy=from-query", ""},
	}
	for _, c := range cases {
		rec, _ := serve(t, Options{PolicyFrom: c.from}, allow, "GET", c.target, hdr)
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

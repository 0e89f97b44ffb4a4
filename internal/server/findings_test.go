package server

import (
	"context"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// Regression tests for the five ways a request was judged other than it
// was served (each failed before http.proxy and the canonical reading).

// 1. Behind Caddy (which copies the client's headers to the auth request)
// a client's X-Original-URI or X-Original-Method never describes the
// request: through a real Caddy with the shipped Caddyfile.
func TestFindingClientHeadersDoNotDescribeTheRequest(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	h := startWith(t, idp, routesUnderTest(baseConfig(idp), "caddy"))
	h.waitServing()
	echo := differentialEcho(t)
	caddy := startCaddy(t, h.srv.httpLn.Addr().String(), strings.TrimPrefix(echo.URL, "http://"))
	for _, hdr := range []map[string]string{nil, {"X-Original-URI": "/catalog/x"}, {"X-Original-URI": "/catalog/x", "X-Original-Method": "GET"}} {
		r, err := rawRequest(caddy, "/admin/users", "www.example.com", hdr)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 401 {
			t.Errorf("GET /admin/users with no token and %v through Caddy: %d, want 401", hdr, r.status)
		}
	}
	// The same door still serves the public route it should.
	if r, err := rawRequest(caddy, "/catalog/x", "www.example.com", nil); err != nil || r.status != 200 {
		t.Errorf("public route through Caddy: %d, %v", r.status, err)
	}

	// Traefik's profile: a client's X-Original-Method cannot turn the
	// proxy's POST into the GET a public route allows.
	cfg := istioExampleConfig(t, idp)
	cfg.HTTP.Proxy = "traefik"
	tr := startWith(t, idp, cfg)
	tr.waitServing()
	resp := tr.forward("GET", "/check", map[string]string{"X-Forwarded-Host": "www.shop.example.com", "X-Forwarded-Uri": "/catalog/shoes",
		"X-Forwarded-Method": "POST", "X-Original-Method": "GET", "X-Original-URI": "/catalog/shoes"})
	if resp.StatusCode == 200 {
		t.Error("a client's X-Original-Method GET beat Traefik's POST on a GET-only public route")
	}
}

// 2. A raw backslash, which WHATWG parsers read as "/", never escapes a
// route: through the shipped nginx recipe.
func TestFindingBackslashThroughNginx(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	h := startWith(t, idp, routesBehindNginx(idp))
	h.waitServing()
	echo := differentialEcho(t)
	nginx := startNginx(t, h.srv.httpLn.Addr().String(), strings.TrimPrefix(echo.URL, "http://"))
	for _, target := range []string{"/catalog/..\\admin/secret", "/catalog\\..\\admin\\secret"} {
		r, err := rawRequest(nginx, target, "www.example.com", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status == 200 {
			t.Errorf("GET %s with no token through nginx was allowed; the upstream saw %s", target, r.body)
		}
	}
}

// 3. Envoy's path-prefix mode judges the raw target Envoy forwards, and no
// ServeMux redirect reaches the client.
func TestFindingPathPrefixModeReadsTheRawTarget(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startWith(t, idp, routesUnderTest(baseConfig(idp), "envoy"))
	h.waitServing()
	addr := h.srv.httpLn.Addr().String()
	cases := []struct {
		target string
		want   int
	}{
		{"/check/admin/..%2F..%2Fcatalog/x", 403}, // encoded slashes on a routed request
		{"/check//orders", 403},                   // refused, not redirected
		{"/check/a/./b", 401},                     // judged as /a/b: a token is missing
		{"/check/catalog/x/../../admin/x", 401},   // judged as /admin/x
		{"/check/catalog/x", 200},
	}
	for _, c := range cases {
		r, err := rawRequest(addr, c.target, "www.example.com", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != c.want || r.header.Get("Location") != "" {
			t.Errorf("%s: %d (Location %q), want %d", c.target, r.status, r.header.Get("Location"), c.want)
		}
	}
}

// 4. A trailing dot on the host does not skip the host's route.
func TestFindingTrailingHostDot(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startWith(t, idp, routesUnderTest(baseConfig(idp), "envoy"))
	h.waitServing()
	for _, host := range []string{"shop.example.com", "shop.example.com.", "Shop.Example.com.:443", "shop.example.com.."} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := h.client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Host: host, Path: "/catalog/x", Scheme: "https",
				Headers: map[string]string{":authority": host, ":path": "/catalog/x", ":method": "GET"},
			}},
		}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetStatus().GetCode() == 0 {
			t.Errorf("GET /catalog/x on %q with no token was allowed: the shop host is admin-only", host)
		}
	}
}

// 5. The shipped Envoy configs normalise paths: envoy.TestShippedEnvoyConfigsNormalise.

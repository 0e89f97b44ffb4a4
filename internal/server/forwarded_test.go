package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// trustingBackend reads the request as a backend behind a proxy is told
// to: the host from X-Forwarded-Host (Express with trust proxy), the path
// from X-Original-URL or X-Rewrite-URL (IIS rewrite, Symfony), the method
// from X-HTTP-Method-Override (method-override middleware). It answers
// with what it would serve.
func trustingBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, path, method := r.Host, r.URL.Path, r.Method
		if v := r.Header.Get("X-Forwarded-Host"); v != "" {
			host = v
		}
		for _, h := range []string{"X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Uri", "X-Original-URI"} {
			if v := r.Header.Get(h); v != "" {
				path = v
			}
		}
		if v := r.Header.Get("X-Forwarded-Prefix"); v != "" {
			path = v + path
		}
		for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
			if v := r.Header.Get(h); v != "" {
				method = v
			}
		}
		// A CGI-style server (WSGI, Rack, PHP) reads X_User_Id as
		// X-User-Id (HTTP_X_USER_ID).
		user := r.Header.Get("X-User-Id")
		for k, vs := range r.Header {
			if strings.Contains(k, "_") && strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "x-user-id") {
				user = strings.Join(append([]string{user}, vs...), ",")
			}
		}
		json.NewEncoder(w).Encode(map[string]string{"host": host, "path": path, "method": method, "proto": r.Header.Get("X-Forwarded-Proto"), "user": user})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The shipped nginx recipe and Caddyfile write or remove every header a
// backend reads the request from: a client's X-Forwarded-Host,
// X-Original-URL or X-HTTP-Method-Override on a public path never makes
// the backend serve the admin host, an admin path or a write.
func TestRecipesOwnTheHeadersThatDescribeTheRequest(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	behindNginx := startWith(t, idp, routesBehindNginx(idp))
	behindCaddy := startWith(t, idp, routesUnderTest(baseConfig(idp), "caddy"))
	behindNginx.waitServing()
	behindCaddy.waitServing()
	backend := strings.TrimPrefix(trustingBackend(t).URL, "http://")
	proxies := map[string]string{
		"nginx": startNginxWith(t, behindNginx.srv.httpLn.Addr().String(), backend, ""),
		"Caddy": startCaddy(t, behindCaddy.srv.httpLn.Addr().String(), backend),
	}
	forged := map[string]string{
		"X-Forwarded-Host": "shop.example.com", "X-Forwarded-Proto": "https",
		"X-Original-URL": "/admin/users", "X-Rewrite-URL": "/admin/users", "X-Forwarded-Uri": "/admin/users",
		"X-Original-URI": "/admin/users", "X-Forwarded-Prefix": "/admin",
		"X-HTTP-Method-Override": "DELETE", "X-HTTP-Method": "DELETE", "X-Method-Override": "DELETE",
		"X_User_Id": "admin", // nginx drops underscored names (underscores_in_headers off); the Caddyfile removes them
	}
	for name, addr := range proxies {
		r, err := rawRequest(addr, "/catalog/x", "www.example.com", forged)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 200 {
			t.Fatalf("%s: public path: %d", name, r.status)
		}
		var served map[string]string
		if err := json.Unmarshal(r.body, &served); err != nil {
			t.Fatalf("%s: %q: %v", name, r.body, err)
		}
		// On a public route no user is named: not the client's X_User_Id,
		// nor Caddy 2.6's unreplaced placeholder for a header authz did
		// not answer (caddyserver/caddy#6610).
		if served["user"] != "" {
			t.Errorf("%s: the backend read a user %q", name, served["user"])
		}
		want := map[string]string{"host": "www.example.com", "path": "/catalog/x", "method": "GET", "proto": "http"}
		for k, v := range want {
			if served[k] != v {
				t.Errorf("%s: the backend read %s %q from the client's headers, want %q (%v)", name, k, served[k], v, served)
			}
		}
	}
}

package route

import (
	"strings"
	"testing"

	"github.com/authz-dev/authz/authz"
)

type req struct {
	method, host, path, src, dst string
	headers                      map[string]string
}

func (r req) build() *authz.Request {
	h := authz.MapHeader{}
	for k, v := range r.headers {
		h[k] = []string{v}
	}
	method := r.method
	if method == "" {
		method = "GET"
	}
	return &authz.Request{Method: method, Host: r.host, Path: r.path, SourcePrincipal: r.src, DestinationPrincipal: r.dst, Header: h}
}

func route(t *testing.T, m Match, r req) bool {
	t.Helper()
	tab, err := New([]Route{{Name: "r", Match: m, Policy: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, ok := tab.Route(r.build())
	return ok
}

func TestEachMatchField(t *testing.T) {
	cases := []struct {
		name string
		m    Match
		r    req
		want bool
	}{
		{"host exact, port ignored, any case", Match{Hosts: []string{"orders.shop.svc.cluster.local"}}, req{host: "Orders.Shop.svc.cluster.local:8080", path: "/"}, true},
		{"host other", Match{Hosts: []string{"orders.shop"}}, req{host: "billing.shop", path: "/"}, false},
		{"host wildcard", Match{Hosts: []string{"*.example.com"}}, req{host: "a.b.example.com", path: "/"}, true},
		{"host wildcard needs a label", Match{Hosts: []string{"*.example.com"}}, req{host: "example.com", path: "/"}, false},
		{"host wildcard is a suffix of labels", Match{Hosts: []string{"*.example.com"}}, req{host: "evilexample.com", path: "/"}, false},
		{"host with a trailing dot", Match{Hosts: []string{"shop.example.com"}}, req{host: "shop.example.com.", path: "/"}, true},
		{"host with a trailing dot and port", Match{Hosts: []string{"shop.example.com"}}, req{host: "Shop.Example.com.:443", path: "/"}, true},
		{"wildcard host with a trailing dot", Match{Hosts: []string{"*.example.com"}}, req{host: "a.example.com.", path: "/"}, true},
		{"host ipv6 with port", Match{Hosts: []string{"[::1]"}}, req{host: "[::1]:8080", path: "/"}, true},
		{"path exact", Match{Path: "/health"}, req{path: "/health?x=1"}, true},
		{"path exact is not a prefix", Match{Path: "/health"}, req{path: "/health/x"}, false},
		{"path prefix", Match{PathPrefix: "/admin/"}, req{path: "/admin/users"}, true},
		{"path prefix miss", Match{PathPrefix: "/admin/"}, req{path: "/administrator"}, false},
		{"path prefix is whole segments", Match{PathPrefix: "/api"}, req{path: "/apiary"}, false},
		{"path prefix matches itself", Match{PathPrefix: "/api"}, req{path: "/api"}, true},
		{"path prefix matches below itself", Match{PathPrefix: "/api"}, req{path: "/api/orders"}, true},
		{"path prefix / matches all", Match{PathPrefix: "/"}, req{path: "/x"}, true},
		{"path prefix ignoring case is whole segments", Match{PathPrefix: "/api", PathIgnoreCase: true}, req{path: "/APIary"}, false},
		{"path prefix ignoring case", Match{PathPrefix: "/api", PathIgnoreCase: true}, req{path: "/API/x"}, true},
		{"path regex whole path", Match{PathRegex: `/v[0-9]+/orders`}, req{path: "/v2/orders"}, true},
		{"path regex anchored", Match{PathRegex: `/v[0-9]+/orders`}, req{path: "/x/v2/orders/1"}, false},
		{"path case-sensitive", Match{PathPrefix: "/admin/"}, req{path: "/ADMIN/x"}, false},
		{"path_ignore_case", Match{PathPrefix: "/admin/", PathIgnoreCase: true}, req{path: "/ADMIN/x"}, true},
		{"path_ignore_case regex", Match{PathRegex: "/admin/.*", PathIgnoreCase: true}, req{path: "/Admin/x"}, true},
		{"methods any of", Match{Methods: []string{"POST", "PUT"}}, req{method: "PUT", path: "/"}, true},
		{"methods miss", Match{Methods: []string{"POST"}}, req{method: "GET", path: "/"}, false},
		{"methods are case-sensitive", Match{Methods: []string{"GET"}}, req{method: "get", path: "/"}, false},
		{"destination exact", Match{DestinationPrincipals: []string{"spiffe://cluster.local/ns/shop/sa/orders"}}, req{dst: "spiffe://cluster.local/ns/shop/sa/orders", path: "/"}, true},
		{"destination other", Match{DestinationPrincipals: []string{"spiffe://cluster.local/ns/shop/sa/orders"}}, req{dst: "spiffe://cluster.local/ns/shop/sa/billing", path: "/"}, false},
		{"source prefix", Match{SourcePrincipals: []string{"spiffe://cluster.local/ns/web/*"}}, req{src: "spiffe://cluster.local/ns/web/sa/frontend", path: "/"}, true},
		{"source prefix is by segment", Match{SourcePrincipals: []string{"spiffe://cluster.local/ns/web/*"}}, req{src: "spiffe://cluster.local/ns/webhooks/sa/x", path: "/"}, false},
		{"no principal never matches one", Match{SourcePrincipals: []string{"spiffe://cluster.local/ns/web/*"}}, req{path: "/"}, false},
		{"header present", Match{Headers: map[string]string{"X-Tenant": "*"}}, req{path: "/", headers: map[string]string{"x-tenant": "t1"}}, true},
		{"header absent", Match{Headers: map[string]string{"x-tenant": "*"}}, req{path: "/"}, false},
		{"header exact", Match{Headers: map[string]string{"x-env": "canary"}}, req{path: "/", headers: map[string]string{"x-env": "canary"}}, true},
		{"header other value", Match{Headers: map[string]string{"x-env": "canary"}}, req{path: "/", headers: map[string]string{"x-env": "prod"}}, false},
		{"all fields AND-ed", Match{Hosts: []string{"shop"}, PathPrefix: "/admin/", Methods: []string{"POST"}}, req{method: "GET", host: "shop", path: "/admin/x"}, false},
	}
	for _, c := range cases {
		if got := route(t, c.m, c.r); got != c.want {
			t.Errorf("%s: matched %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPathBypasses(t *testing.T) {
	tab, err := New([]Route{
		{Name: "admin", Match: Match{PathPrefix: "/admin/"}, Policy: "strict"},
		{Name: "public", Match: Match{PathPrefix: "/public/"}, Policy: "public"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/public/../admin/x": "admin",
		"//admin/x":          "admin",
		"/%61dmin/x":         "admin",
		"/admin;x=1/users":   "admin",
		"/public/./../admin": "", // "/admin" is no "/admin/…"
		"/admin%2F..%2Fx":    "", // one segment: never decoded into /x, never /admin/
		"/ADMIN/x":           "", // case-sensitive by default
		"/?/admin/":          "", // the query is not the path
		"/public/x?/admin/":  "public",
	} {
		name, _, _ := tab.Route((req{path: path}).build())
		if name != want {
			t.Errorf("%s routed to %q, want %q", path, name, want)
		}
	}
}

func TestFirstMatchWins(t *testing.T) {
	tab, _ := New([]Route{
		{Name: "one", Match: Match{PathPrefix: "/a/"}, Policy: "p1"},
		{Name: "two", Match: Match{PathPrefix: "/a/b/"}, Policy: "p2"},
	})
	if name, policy, _ := tab.Route((req{path: "/a/b/c"}).build()); name != "one" || policy != "p1" {
		t.Errorf("got %s %s", name, policy)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		routes []Route
		want   string
	}{
		{[]Route{{Name: "a", Policy: "p"}}, "empty match"},
		{[]Route{{Name: "a", Match: Match{PathRegex: "("}, Policy: "p"}}, "path_regex"},
		{[]Route{{Name: "a", Match: Match{Path: "/x", PathPrefix: "/y"}, Policy: "p"}}, "one of path"},
		{[]Route{{Name: "a", Match: Match{Hosts: []string{"a.*.com"}}, Policy: "p"}}, "wildcard"},
		{[]Route{{Name: "a", Match: Match{SourcePrincipals: []string{"spiffe://*/x"}}, Policy: "p"}}, "wildcard"},
		{[]Route{{Name: "a", Match: Match{Path: "/x"}, Policy: "p"}, {Name: "a", Match: Match{Path: "/y"}, Policy: "p"}}, "used twice"},
		{[]Route{{Match: Match{Path: "/x"}, Policy: "p"}}, "name"},
		{[]Route{{Name: "a", Match: Match{Methods: []string{"get"}}, Policy: "p"}}, "case-sensitive"},
	} {
		if _, err := New(c.routes); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.routes, err, c.want)
		}
	}
}

func TestRoutingAClearPathDoesNotAllocate(t *testing.T) {
	routes := make([]Route, 50)
	for i := range routes {
		routes[i] = Route{Name: string(rune('a'+i%26)) + strings.Repeat("x", i), Match: Match{Hosts: []string{"api.shop"}, PathPrefix: "/svc" + strings.Repeat("x", i) + "/", Methods: []string{"GET", "POST"}}, Policy: "p"}
	}
	tab, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	r := (req{host: "api.shop:443", path: "/svc" + strings.Repeat("x", 39) + "/orders?x=1", dst: "spiffe://cluster.local/ns/shop/sa/orders"}).build()
	if name, _, _ := tab.Route(r); name != routes[39].Name {
		t.Fatalf("routed to %q", name)
	}
	if n := testing.AllocsPerRun(100, func() { tab.Route(r) }); n != 0 {
		t.Errorf("%v allocations per routing", n)
	}
}

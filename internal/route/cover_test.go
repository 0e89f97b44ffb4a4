package route

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomMatch draws a match from a small vocabulary — ports, trailing
// dots and case included — so that keys collide, prefixes nest and routes
// shadow and cover each other often.
func randomMatch(rng *rand.Rand) Match {
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	some := func(vs ...string) []string {
		var out []string
		for range rng.IntN(3) {
			out = append(out, pick(vs...))
		}
		return out
	}
	principals := []string{"spiffe://td/ns/a/sa/x", "spiffe://td/ns/a/*", "spiffe://td/ns/b/sa/y", "spiffe://td/*", "spiffe://td/ns/*"}
	for {
		m := Match{Hosts: some("a.shop.example", "b.shop.example", "B.shop.example:8443", "*.shop.example", "*.example", "shop.example."),
			Methods: some("GET", "POST"), SourcePrincipals: some(principals...), DestinationPrincipals: some(principals...)}
		switch rng.IntN(4) {
		case 0:
			m.Path = pick("/a", "/a/b", "/A/b", "/b/c", "/")
		case 1:
			m.PathPrefix = pick("/", "/a", "/a/", "/b/", "/A/", "/a/b/c")
		case 2:
			m.PathRegex = "/a/.*"
		}
		m.PathIgnoreCase = rng.IntN(3) == 0
		if rng.IntN(4) == 0 {
			m.Headers = map[string]string{"x-t": pick("*", "1")}
		}
		if !m.empty() {
			return m
		}
	}
}

// randomRequest draws a request from the same vocabulary.
func randomRequest(rng *rand.Rand) req {
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	r := req{method: pick("GET", "POST"),
		host: pick("a.shop.example", "b.shop.example", "x.shop.example", "shop.example", "other.example", "a.shop.example.:443"),
		path: pick("/a", "/a/b", "/A/B", "/a/b/c", "/a/b/c/d", "/b", "/b/c", "/", "/ab"),
		src:  pick("", "spiffe://td/ns/a/sa/x", "spiffe://td/ns/b/sa/y", "spiffe://td/ns/c/sa/z"),
		dst:  pick("", "spiffe://td/ns/a/sa/x", "spiffe://td/ns/b/sa/y", "spiffe://td/ns/a/sa/z", "spiffe://td/ns/a/")}
	if rng.IntN(3) == 0 {
		r.headers = map[string]string{"x-t": pick("1", "2")}
	}
	return r
}

// covers(a, b) must be sound: no request b matches escapes a. It is not
// complete (a regex covers only itself), so the test only looks one way,
// and checks that it does say yes often enough to matter.
func TestCoversIsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	said := 0
	for range 20000 {
		tab, err := New([]Route{{Name: "a", Match: randomMatch(rng), Policy: "p"}, {Name: "b", Match: randomMatch(rng), Policy: "p"}})
		if err != nil {
			t.Fatal(err)
		}
		a, b := &tab.routes[0], &tab.routes[1]
		if !covers(a, b) {
			continue
		}
		said++
		for range 50 {
			r := randomRequest(rng).build()
			host := r.CanonicalHost()
			if b.matches(r, host) && !a.matches(r, host) {
				t.Fatalf("%+v said to cover %+v, but only the latter matches %s %s %s src=%s dst=%s", a.Match, b.Match, r.Method, r.Host, r.Path, r.SourcePrincipal, r.DestinationPrincipal)
			}
		}
	}
	if said < 100 {
		t.Errorf("covers said yes %d times in 20,000 pairs: the test exercises little", said)
	}
}

// Shadowed, which compares only the index's candidates, finds what
// comparing every earlier route would.
func TestShadowedFindsWhatEveryPairFinds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	found := 0
	for range 2000 {
		var routes []Route
		for i := range 2 + rng.IntN(8) {
			routes = append(routes, Route{Name: fmt.Sprintf("r%d", i), Match: randomMatch(rng), Policy: "p"})
		}
		tab, err := New(routes)
		if err != nil {
			t.Fatal(err)
		}
		var want []Shadow
		for b := range tab.routes {
			for a := range b {
				if covers(&tab.routes[a], &tab.routes[b]) {
					want = append(want, Shadow{Route: b, By: a})
					break
				}
			}
		}
		got := tab.Shadowed()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("table %+v: Shadowed %v, every pair %v", routes, got, want)
		}
		found += len(got)
	}
	if found < 100 {
		t.Errorf("%d shadowed routes in 2,000 tables: the test exercises little", found)
	}
}

func TestShadowedExamples(t *testing.T) {
	for _, c := range []struct {
		name   string
		routes []Match
		want   string
	}{
		{"a catch-all prefix shadows what follows", []Match{{PathPrefix: "/"}, {Hosts: []string{"shop.example"}, PathPrefix: "/orders/"}}, "[{1 0}]"},
		{"a narrower route first is fine", []Match{{Hosts: []string{"shop.example"}, PathPrefix: "/orders/"}, {PathPrefix: "/"}}, "[]"},
		{"a workload's prefix covers its own service accounts", []Match{{DestinationPrincipals: []string{"spiffe://td/ns/shop/*"}}, {DestinationPrincipals: []string{"spiffe://td/ns/shop/sa/orders"}, Methods: []string{"GET"}}}, "[{1 0}]"},
		{"another namespace is not covered", []Match{{DestinationPrincipals: []string{"spiffe://td/ns/shop/*"}}, {DestinationPrincipals: []string{"spiffe://td/ns/shopping/sa/x"}}}, "[]"},
		{"methods must all be allowed", []Match{{Methods: []string{"GET"}, PathPrefix: "/a"}, {Methods: []string{"GET", "POST"}, Path: "/a/b"}}, "[]"},
		{"a wildcard host covers its names", []Match{{Hosts: []string{"*.example"}}, {Hosts: []string{"a.example", "b.c.example"}, Path: "/x"}}, "[{1 0}]"},
		{"case-sensitive does not cover case-insensitive", []Match{{PathPrefix: "/admin"}, {PathPrefix: "/admin/", PathIgnoreCase: true}}, "[]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var routes []Route
			for i, m := range c.routes {
				routes = append(routes, Route{Name: fmt.Sprintf("r%d", i), Match: m, Policy: "p"})
			}
			tab, err := New(routes)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(tab.Shadowed()); got != c.want {
				t.Errorf("Shadowed %s, want %s", got, c.want)
			}
		})
	}
}

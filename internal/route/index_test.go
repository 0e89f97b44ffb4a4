package route

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// scanFirst is what the index must agree with: every route, in order.
func scanFirst(t *Table, r req) string {
	a := r.build()
	host := a.CanonicalHost()
	for i := range t.routes {
		if t.routes[i].matches(a, host) {
			return t.routes[i].Name
		}
	}
	return ""
}

// TestIndexAgreesWithAScan: random tables over a small vocabulary — so
// that keys collide, prefixes nest and routes shadow each other — and
// random requests; the indexed look-up must pick what the ordered scan
// picks, every time.
func TestIndexAgreesWithAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	some := func(vs ...string) []string {
		var out []string
		for range rng.IntN(3) {
			out = append(out, pick(vs...))
		}
		return out
	}
	hosts := []string{"a.shop.example", "B.shop.example:8443", "*.shop.example", "*.example", "shop.example."}
	principals := []string{"spiffe://td/ns/a/sa/x", "spiffe://td/ns/a/*", "spiffe://td/ns/b/sa/y", "spiffe://td/*", "spiffe://td/ns/*"}
	paths := []string{"/a", "/a/b", "/A/b", "/b/c", "/"}
	prefixes := []string{"/", "/a", "/a/", "/b/", "/A/", "/a/b/c"}

	agreed, matched := 0, 0
	for table := range 1500 {
		var routes []Route
		for i := range 1 + rng.IntN(12) {
			var m Match
			for m.empty() {
				m = Match{Hosts: some(hosts...), Methods: some("GET", "POST"),
					SourcePrincipals: some(principals...), DestinationPrincipals: some(principals...)}
				switch rng.IntN(4) {
				case 0:
					m.Path = pick(paths...)
				case 1:
					m.PathPrefix = pick(prefixes...)
				case 2:
					m.PathRegex = "/a/.*"
				}
				m.PathIgnoreCase = rng.IntN(3) == 0
				if rng.IntN(4) == 0 {
					m.Headers = map[string]string{"x-t": pick("*", "1")}
				}
			}
			routes = append(routes, Route{Name: fmt.Sprintf("r%d", i), Match: m, Policy: "p"})
		}
		tab, err := New(routes)
		if err != nil {
			t.Fatalf("table %d: %v", table, err)
		}
		for range 40 {
			r := req{method: pick("GET", "POST"), host: pick("a.shop.example", "b.shop.example", "x.shop.example", "shop.example", "other.example", "a.shop.example.:443"),
				path: pick("/a", "/a/b", "/A/B", "/a/b/c/d", "/b/c", "/", "/ab"),
				src:  pick("", "spiffe://td/ns/a/sa/x", "spiffe://td/ns/b/sa/y", "spiffe://td/ns/c/sa/z"),
				dst:  pick("", "spiffe://td/ns/a/sa/x", "spiffe://td/ns/b/sa/y", "spiffe://td/ns/a/")}
			if rng.IntN(3) == 0 {
				r.headers = map[string]string{"x-t": pick("1", "2")}
			}
			want := scanFirst(tab, r)
			got, _, _ := tab.Route(r.build())
			if got != want {
				t.Fatalf("table %d %+v\nrequest %+v: index chose %q, the scan %q", table, routes, r, got, want)
			}
			agreed++
			if want != "" {
				matched++
			}
		}
	}
	// The vocabulary must make both outcomes common, or the test says little.
	if matched < agreed/10 || matched > agreed*9/10 {
		t.Errorf("%d of %d requests matched a route: the generator is lopsided", matched, agreed)
	}
}

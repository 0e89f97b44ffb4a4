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
	agreed, matched := 0, 0
	for table := range 1500 {
		var routes []Route
		for i := range 1 + rng.IntN(12) {
			routes = append(routes, Route{Name: fmt.Sprintf("r%d", i), Match: randomMatch(rng), Policy: "p"})
		}
		tab, err := New(routes)
		if err != nil {
			t.Fatalf("table %d: %v", table, err)
		}
		for range 40 {
			r := randomRequest(rng)
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

package route

import (
	"fmt"
	"runtime"
	"testing"
)

// routeKinds build route i of a table keyed one way each, and the request
// that only route i matches: the workload-per-route tables of a mesh.
var routeKinds = []struct {
	name  string
	route func(i int) Match
	req   func(i int) req
}{
	{"host", func(i int) Match { return Match{Hosts: []string{fmt.Sprintf("svc-%d.shop.example", i)}} },
		func(i int) req { return req{host: fmt.Sprintf("svc-%d.shop.example", i), path: "/orders/1"} }},
	{"principal", func(i int) Match {
		return Match{DestinationPrincipals: []string{fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/svc-%d", i)}, PathPrefix: "/"}
	}, func(i int) req {
		return req{host: "shop.example", path: "/orders/1", dst: fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/svc-%d", i)}
	}},
	{"principal-prefix", func(i int) Match {
		return Match{DestinationPrincipals: []string{fmt.Sprintf("spiffe://cluster.local/ns/team-%d/*", i)}}
	}, func(i int) req {
		return req{host: "shop.example", path: "/orders/1", dst: fmt.Sprintf("spiffe://cluster.local/ns/team-%d/sa/api", i)}
	}},
	{"path-prefix", func(i int) Match {
		return Match{PathPrefix: fmt.Sprintf("/svc-%d/", i), Methods: []string{"GET", "POST"}}
	},
		func(i int) req { return req{host: "shop.example", path: fmt.Sprintf("/svc-%d/orders/1", i)} }},
}

// BenchmarkRouteLookup: the look-up of the last route of tables of 10 to
// 10,000 routes; with the index the figure should not grow with the
// table. B/route is the table's memory per route (routes and index).
func BenchmarkRouteLookup(b *testing.B) {
	for _, k := range routeKinds {
		for _, n := range []int{10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", k.name, n), func(b *testing.B) {
				routes := make([]Route, n)
				for i := range routes {
					routes[i] = Route{Name: fmt.Sprintf("r%d", i), Match: k.route(i), Policy: "p"}
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tab, err := New(routes)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perRoute := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				r := k.req(n - 1).build()
				if name, _, _ := tab.Route(r); name != fmt.Sprintf("r%d", n-1) {
					b.Fatalf("routed to %q", name)
				}
				b.ResetTimer()
				for b.Loop() {
					tab.Route(r)
				}
				b.ReportMetric(perRoute, "B/route")
				runtime.KeepAlive(tab)
			})
		}
	}
}

// BenchmarkShadowed: the check validate runs on a whole table, here
// 10,000 routes keyed each way; it must stay near linear.
func BenchmarkShadowed(b *testing.B) {
	for _, k := range routeKinds {
		b.Run(k.name, func(b *testing.B) {
			routes := make([]Route, 10000)
			for i := range routes {
				routes[i] = Route{Name: fmt.Sprintf("r%d", i), Match: k.route(i), Policy: "p"}
			}
			tab, err := New(routes)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if s := tab.Shadowed(); len(s) != 0 {
					b.Fatalf("%d shadowed", len(s))
				}
			}
		})
	}
}

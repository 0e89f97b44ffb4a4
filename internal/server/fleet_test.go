package server

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
)

// TestOneReplicaAsksTheIdPForTheFleet: replicas on one Redis judge a token
// once between them — at first sight, and when a hot token is refreshed —
// and a replica whose leader hangs judges the token itself once the lease
// runs out, instead of waiting on with its Check.
func TestOneReplicaAsksTheIdPForTheFleet(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	idp := newIdP(t)
	fleetConfig := func() *config.Config {
		cfg := sharedConfig(t, idp, rs.addr)
		cfg.Cache.Redis.Lease = ptr(400 * time.Millisecond)
		cfg.Cache.TTL = 2 * time.Second
		cfg.Cache.RefreshAhead = "25%"
		return cfg
	}
	replicas := []*harness{startIntrospect(t, idp, fleetConfig()), startIntrospect(t, idp, fleetConfig()), startIntrospect(t, idp, fleetConfig())}
	checkAll := func(tok string) {
		t.Helper()
		var wg sync.WaitGroup
		for _, h := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if o := read(h.check(withToken(tok))); o.name != "allow" {
					t.Errorf("a replica answered %q", o.name)
				}
			}()
		}
		wg.Wait()
	}

	t.Run("a new token: one introspection for three replicas", func(t *testing.T) {
		// A slow IdP: every replica misses while the first call is out.
		idp.SetDelay(150 * time.Millisecond)
		defer idp.SetDelay(0)
		tok := replicas[0].opaque("fay", time.Hour)
		n := idp.Introspections()
		checkAll(tok)
		if got := idp.Introspections() - n; got != 1 {
			t.Errorf("%d introspections for one token on three replicas, want 1", got)
		}
		if led, followed := sumMetric(replicas, `authz_shared_leases_total{outcome="led"}`), sumMetric(replicas, `authz_shared_leases_total{outcome="followed"}`); led != 1 || followed != 2 {
			t.Errorf("leases: %v led, %v followed; want 1 and 2", led, followed)
		}
	})

	t.Run("a JWT is verified here, without a lease", func(t *testing.T) {
		h := replicas[0]
		before := h.metric(`authz_shared_leases_total{outcome="led"}`)
		h.expect(h.check(withToken(h.mint("ec-1", idp.Claims("ida", time.Hour, "orders:read", "orders-api")))), "allow", 200)
		if got := h.metric(`authz_shared_leases_total{outcome="led"}`) - before; got != 0 {
			t.Errorf("a JWT miss took %v leases", got)
		}
	})

	t.Run("a hot token: one refresh for three replicas", func(t *testing.T) {
		waitsOnClock(t)
		tok := replicas[0].opaque("gil", time.Hour)
		checkAll(tok)
		n := idp.Introspections()
		time.Sleep(1600 * time.Millisecond) // into the last quarter of the 2 s TTL
		checkAll(tok)                       // each replica starts its refresh
		// Past the first TTL, before the refreshed answer's own refresh
		// time: every replica serves it from memory, and the IdP was asked
		// once.
		time.Sleep(700 * time.Millisecond)
		for _, h := range replicas {
			if o := read(h.check(withToken(tok))); o.name != "allow" {
				t.Errorf("after the refresh: %q", o.name)
			}
		}
		if got := idp.Introspections() - n; got != 1 {
			t.Errorf("%d introspections to refresh one hot token on three replicas, want 1", got)
			for i, h := range replicas {
				t.Logf("replica %d: led %v followed %v waited_out %v abandoned %v refreshes %v", i, h.metric(`authz_shared_leases_total{outcome="led"}`), h.metric(`authz_shared_leases_total{outcome="followed"}`),
					h.metric(`authz_shared_leases_total{outcome="waited_out"}`), h.metric(`authz_shared_leases_total{outcome="abandoned"}`), h.metric(`authz_refreshes_total{result="ok"}`))
			}
		}
	})

	t.Run("a leader that hangs holds no Check past its lease", func(t *testing.T) {
		// A replica whose IdP never answers in time takes the lease first.
		asked := make(chan struct{}, 1)
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case asked <- struct{}{}:
			default:
			}
			<-release
		}))
		defer hang.Close()
		defer close(release) // first: Close waits for the hanging request
		cfg := fleetConfig()
		cfg.Introspection[0].Endpoint = hang.URL
		cfg.Introspection[0].Timeout = 5 * time.Second
		stuck := startIntrospect(t, idp, cfg)
		tok := replicas[0].opaque("hal", time.Hour)
		done := make(chan string, 1)
		go func() { done <- read(stuck.check(withToken(tok))).name }()
		<-asked // the stuck replica holds the token's lease

		n := idp.Introspections()
		before := replicas[1].metric(`authz_shared_leases_total{outcome="waited_out"}`) + replicas[1].metric(`authz_shared_leases_total{outcome="abandoned"}`)
		replicas[1].expect(replicas[1].check(withToken(tok)), "allow", 200)
		if got := idp.Introspections() - n; got != 1 {
			t.Errorf("%d introspections by the replica that waited out the lease, want 1", got)
		}
		// The lease ran out in Redis (abandoned) or the wait did (waited_out):
		// either way the replica judged the token itself, once.
		out := func(outcome string) float64 {
			return replicas[1].metric(`authz_shared_leases_total{outcome="` + outcome + `"}`)
		}
		if got := out("waited_out") + out("abandoned") - before; got != 1 {
			t.Errorf("the replica gave up on the lease %v times, want 1", got)
		}
		select {
		case o := <-done:
			t.Errorf("the stuck replica answered %q while its IdP hung", o)
		default:
		}
	})
}

func sumMetric(hs []*harness, series string) float64 {
	var n float64
	for _, h := range hs {
		n += h.metric(series)
	}
	return n
}

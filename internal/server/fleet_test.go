package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestOneReplicaAsksTheIdPForTheFleet: replicas on one Redis judge a token
// once between them — at first sight, and when a hot token is refreshed —
// and a replica whose leader hangs judges the token itself once the lease
// runs out, instead of waiting on with its Check.
func TestOneReplicaAsksTheIdPForTheFleet(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rdb := rs.Client()
	idp := newIdP(t)
	// The hot token's TTL: refresh-ahead starts at 75% of it, and the
	// refreshed answer's own refresh at 150%; the test looks between its
	// first expiry and then, a window of half the TTL that load on a
	// shared machine must not close.
	const ttl = 6 * time.Second
	fleetConfig := func(lease time.Duration) *config.Config {
		cfg := sharedConfig(t, idp, rs.Addr)
		cfg.Cache.Redis.Lease = ptr(lease)
		// Redis calls answer within the 50 ms default on an idle machine,
		// not always under a loaded test run; one that runs out is a fault,
		// and a replica that faults judges the token itself — right for
		// authz, wrong for a test that counts the fleet's IdP calls.
		cfg.Cache.Redis.Timeout = 5 * time.Second
		cfg.Cache.TTL = ttl
		cfg.Cache.RefreshAhead = "25%"
		cfg.Introspection[0].Timeout = 20 * time.Second
		return cfg
	}
	// A fleet whose lease outlasts any wait here: the tests hold the IdP
	// until every replica has asked for the lease, so the two that did
	// not get it are waiting on the one that did — on any machine, however
	// slow.
	newFleet := func() []*harness {
		fleet := make([]*harness, 3)
		for i := range fleet {
			fleet[i] = startIntrospect(t, idp, fleetConfig(20*time.Second))
		}
		return fleet
	}
	checkAll := func(fleet []*harness, tok string) {
		t.Helper()
		var wg sync.WaitGroup
		for _, h := range fleet {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				resp, err := h.client.Check(ctx, newCheckRequest(withToken(tok)))
				if err != nil {
					t.Errorf("a replica's Check: %v", err)
				} else if o := read(resp); o.Outcome != "allow" {
					t.Errorf("a replica answered %q", o.Outcome)
				}
			}()
		}
		wg.Wait()
	}
	// untilAllAskedForTheLease waits until n more lease requests (a SET NX
	// each) have reached Redis since `since`; the leader's write of its
	// verdict, the next SET, waits on the held IdP. Then it lets the IdP
	// answer.
	untilAllAskedForTheLease := func(since int64, n int, release func()) {
		defer release()
		for deadline := time.Now().Add(20 * time.Second); redisCalls(t, rdb, "set")-since < int64(n); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("only %d of %d replicas asked for the lease", redisCalls(t, rdb, "set")-since, n)
				return
			}
		}
	}

	t.Run("a new token: one introspection for three replicas", func(t *testing.T) {
		fleet := newFleet()
		tok := fleet[0].opaque("fay", time.Hour)
		n, asked := idp.Introspections(), redisCalls(t, rdb, "set")
		release := idp.Hold()
		defer release()
		go untilAllAskedForTheLease(asked, len(fleet), release)
		checkAll(fleet, tok)
		if got := idp.Introspections() - n; got != 1 {
			t.Errorf("%d introspections for one token on three replicas, want 1", got)
		}
		if led, followed := sumMetric(fleet, `authz_shared_leases_total{outcome="led"}`), sumMetric(fleet, `authz_shared_leases_total{outcome="followed"}`); led != 1 || followed != 2 {
			t.Errorf("leases: %v led, %v followed; want 1 and 2", led, followed)
		}
	})

	t.Run("a JWT is verified here, without a lease", func(t *testing.T) {
		h := startIntrospect(t, idp, fleetConfig(20*time.Second))
		before := h.metric(`authz_shared_leases_total{outcome="led"}`)
		h.expect(h.check(withToken(h.mint("ec-1", idp.Claims("ida", time.Hour, "orders:read", "orders-api")))), "allow", 200)
		if got := h.metric(`authz_shared_leases_total{outcome="led"}`) - before; got != 0 {
			t.Errorf("a JWT miss took %v leases", got)
		}
	})

	t.Run("a hot token: one refresh for three replicas", func(t *testing.T) {
		waitsOnClock(t)
		fleet := newFleet()
		tok := fleet[0].opaque("gil", time.Hour)
		checkAll(fleet, tok)
		// Measured once every replica holds the answer: a follower that
		// took it late keeps it with a later refresh time (its TTL counts
		// from when it stored it), and a loaded machine once kept one
		// replica out of the last quarter measured from before the Checks.
		first := time.Now()
		n := idp.Introspections()
		time.Sleep(time.Until(first.Add(ttl * 8 / 10))) // into the last quarter of the TTL
		asked := redisCalls(t, rdb, "set")
		release := idp.Hold()
		defer release()
		checkAll(fleet, tok) // served from memory; each replica starts its refresh
		untilAllAskedForTheLease(asked, len(fleet), release)
		// Past the first TTL, before the refreshed answer's own refresh
		// time: every replica serves it from memory, and the IdP was asked
		// once.
		time.Sleep(time.Until(first.Add(ttl * 11 / 10)))
		for _, h := range fleet {
			if o := read(h.check(withToken(tok))); o.Outcome != "allow" {
				t.Errorf("after the refresh: %q", o.Outcome)
			}
		}
		if got := idp.Introspections() - n; got != 1 {
			t.Errorf("%d introspections to refresh one hot token on three replicas, want 1", got)
			for i, h := range fleet {
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
		// The stuck leader's lease lasts in Redis long past any wait here;
		// the waiter waits on a lease 400 ms at most.
		waiter := startIntrospect(t, idp, fleetConfig(400*time.Millisecond))
		cfg := fleetConfig(20 * time.Second)
		cfg.Introspection[0].Endpoint = hang.URL
		cfg.Introspection[0].Timeout = 5 * time.Second
		stuck := startIntrospect(t, idp, cfg)
		tok := waiter.opaque("hal", time.Hour)
		done := make(chan string, 1)
		go func() { done <- read(stuck.check(withToken(tok))).Outcome }()
		<-asked // the stuck replica holds the token's lease

		n := idp.Introspections()
		before := waiter.metric(`authz_shared_leases_total{outcome="waited_out"}`)
		waiter.expect(waiter.check(withToken(tok)), "allow", 200)
		if got := idp.Introspections() - n; got != 1 {
			t.Errorf("%d introspections by the replica that waited out the lease, want 1", got)
		}
		// The wait ran out, and the replica judged the token itself, once.
		if got := waiter.metric(`authz_shared_leases_total{outcome="waited_out"}`) - before; got != 1 {
			t.Errorf("the replica waited out the lease %v times, want 1", got)
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

// redisCalls is how many times the server has run a command, from INFO
// commandstats. It may run outside the test's goroutine, so it reports a
// failure without stopping the test.
func redisCalls(t *testing.T, rdb *redis.Client, command string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Errorf("INFO commandstats: %v", err)
		return 0
	}
	for line := range strings.Lines(info) {
		stats, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+command+":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(stats, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			t.Errorf("INFO commandstats: %q: %v", line, err)
			return 0
		}
		return n
	}
	return 0
}

package server

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/redistest"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// modeConfig is introspectConfig sharing results through r.
func modeConfig(t testing.TB, idp *testidp.IdP, r config.Redis) *config.Config {
	cfg := sharedConfig(t, idp, "unused")
	salt := cfg.Cache.Redis.KeySaltFile
	cfg.Cache.Redis = r
	cfg.Cache.Redis.KeySaltFile = salt
	return cfg
}

func TestSharedTierOnClusterAndSentinel(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	modes := map[string]func(t *testing.T) config.Redis{
		"cluster": func(t *testing.T) config.Redis {
			nodes := redistest.StartCluster(t)
			return config.Redis{Mode: "cluster", Addrs: []string{nodes[0].Addr, nodes[1].Addr}, Timeout: time.Second}
		},
		"sentinel": func(t *testing.T) config.Redis {
			s := redistest.StartSentinel(t)
			return config.Redis{Mode: "sentinel", Addrs: []string{s.Sentinel.Addr}, MasterName: redistest.SentinelMaster, Timeout: time.Second}
		},
	}
	for name, setup := range modes {
		t.Run(name, func(t *testing.T) {
			rc := setup(t)
			idp := newIdP(t)
			a := startIntrospect(t, idp, modeConfig(t, idp, rc))
			b := startIntrospect(t, idp, modeConfig(t, idp, rc))
			for i := range 5 { // tokens land on different slots
				tok := a.opaque(fmt.Sprintf("%s-%d", name, i), time.Hour)
				n := idp.Introspections()
				a.expect(a.check(withToken(tok)), "allow", 200)
				b.expect(b.check(withToken(tok)), "allow", 200)
				if got := idp.Introspections() - n; got != 1 {
					t.Errorf("token %d: %d introspections for two replicas, want 1", i, got)
				}
			}
			if f := a.srv.current().shared.Faults() + b.srv.current().shared.Faults(); f != 0 {
				t.Errorf("%d Redis faults on a healthy %s", f, name)
			}
			tok := a.opaque(name+"-purged", time.Hour)
			a.expect(a.check(withToken(tok)), "allow", 200)
			b.expect(b.check(withToken(tok)), "allow", 200)
			idp.Revoke(tok)
			if code, err := httpPost("http://"+a.srv.adminLn.Addr().String()+"/admin/purge", "token="+url.QueryEscape(tok)); err != nil || code != 200 {
				t.Fatalf("purge: %d %v", code, err)
			}
			deadline := time.Now().Add(time.Second)
			for read(b.check(withToken(tok))).Outcome != "invalid" {
				if time.Now().After(deadline) {
					t.Fatal("B still allows a token purged on A after 1s")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// A Redis Cluster node down: its slots are faults, answered as misses.
func TestClusterNodeDownIsAMiss(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	nodes := redistest.StartCluster(t)
	idp := newIdP(t)
	rc := config.Redis{Mode: "cluster", Addrs: []string{nodes[0].Addr}, Timeout: 100 * time.Millisecond}
	a := startIntrospect(t, idp, modeConfig(t, idp, rc))
	nodes[2].Stop()
	revoked := a.opaque("rev", time.Hour)
	idp.Revoke(revoked)
	for i := range 9 {
		a.expect(a.check(withToken(a.opaque(fmt.Sprintf("n-%d", i), time.Hour))), "allow", 200)
	}
	a.expect(a.check(withToken(revoked)), "invalid", 401)
	if a.srv.current().shared.Faults() == 0 {
		t.Error("no fault counted with a third of the slots down")
	}
}

// Sentinel promotes the replica while Checks run: every Check is answered
// right throughout, and shared hits resume on the new master.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	s := redistest.StartSentinel(t)
	idp := newIdP(t)
	rc := config.Redis{Mode: "sentinel", Addrs: []string{s.Sentinel.Addr}, MasterName: redistest.SentinelMaster, Timeout: 200 * time.Millisecond}
	a := startIntrospect(t, idp, modeConfig(t, idp, rc))
	c := startIntrospect(t, idp, modeConfig(t, idp, rc)) // lives through the failover
	good := a.opaque("steady", time.Hour)
	revoked := a.opaque("revoked", time.Hour)
	idp.Revoke(revoked)

	var stop atomic.Bool
	var checks, wrong atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				tok, want := good, "allow"
				if n%3 == 0 {
					tok, want = revoked, "invalid"
				}
				if i == 0 && n%5 == 0 { // a new token: through Redis, on whichever master
					tok, want = a.opaque(fmt.Sprintf("new-%d", n), time.Hour), "allow"
				}
				if got := read(a.check(withToken(tok))).Outcome; got != want {
					wrong.Add(1)
					t.Errorf("a Check got %s, want %s", got, want)
				}
				checks.Add(1)
			}
		}()
	}
	// Traffic under way on every worker before the master dies.
	testsupport.WaitFor(t, "Checks under way", func() bool { return checks.Load() >= 40 })
	killed := time.Now()
	s.Master.Stop() // SIGKILL
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr})
	defer sc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		addr, _ := sc.GetMasterAddrByName(context.Background(), redistest.SentinelMaster).Result()
		if len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == s.Replica.Addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sentinel did not promote the replica within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	promoted := time.Since(killed)
	// Shared hits resume: a token judged by A is served to a fresh replica
	// from Redis without asking the IdP.
	var resumed time.Duration
	for {
		tok := a.opaque(fmt.Sprintf("after-%d", time.Now().UnixNano()), time.Hour)
		a.expect(a.check(withToken(tok)), "allow", 200)
		b := startIntrospect(t, idp, modeConfig(t, idp, rc))
		b.expect(b.check(withToken(tok)), "allow", 200)
		asked := b.metric(`authz_idp_requests_total{endpoint="corp-introspect",result="active"}`)
		b.stop()
		b.done <- nil
		if asked == 0 {
			resumed = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("shared hits did not resume within 20s of the failover; A's log:\n%s", a.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	// Purges still reach every replica: C's subscription followed the
	// master. It resubscribes on go-redis's reconnect backoff, and pub/sub
	// keeps nothing for a subscriber that is away: as the purge docs tell
	// operators, a purge reports the subscriptions it reached and is
	// repeated until both replicas' are back.
	tok := a.opaque("purged-after-failover", time.Hour)
	a.expect(a.check(withToken(tok)), "allow", 200)
	c.expect(c.check(withToken(tok)), "allow", 200)
	idp.Revoke(tok)
	for reached := int64(0); reached < 2; {
		var rep authz.PurgeReport
		code, err := httpPostJSON("http://"+a.srv.adminLn.Addr().String()+"/admin/purge", "token="+url.QueryEscape(tok), &rep)
		if err != nil || code != 200 {
			t.Fatalf("purge after the failover: %d %v", code, err)
		}
		if reached = rep.Subscribers; reached < 2 && time.Now().After(deadline) {
			t.Fatalf("20s after the failover a purge reaches %d subscriptions, want A's and C's", reached)
		}
		time.Sleep(50 * time.Millisecond)
	}
	purgeDeadline := time.Now().Add(time.Second)
	for read(c.check(withToken(tok))).Outcome != "invalid" {
		if time.Now().After(purgeDeadline) {
			t.Fatal("after the failover, a purge on A did not reach C within 1s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("failover: master killed; replica promoted after %v; shared hits resumed after %v; %d Checks, %d wrong", promoted.Round(time.Millisecond), resumed.Round(time.Millisecond), checks.Load(), wrong.Load())
}

package server

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
)

// startRedisNode runs a redis-server with extra arguments, stopped when
// the test ends.
func startRedisNode(t testing.TB, args ...string) *redisServer {
	t.Helper()
	r := &redisServer{t: t, args: args}
	r.startOnAFreePort()
	t.Cleanup(r.stop)
	return r
}

// startCluster runs a three-master Redis Cluster and returns its nodes.
func startCluster(t testing.TB) []*redisServer {
	t.Helper()
	var nodes []*redisServer
	var addrs []string
	for range 3 {
		// The cluster bus listens on port+10000 unless told otherwise: with
		// tests starting servers in parallel, that port may be taken (or
		// past 65535). Give it a free port of its own (Redis 7).
		_, bus, _ := net.SplitHostPort(freePort(t))
		n := startRedisNode(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000", "--cluster-port", bus)
		nodes, addrs = append(nodes, n), append(addrs, n.addr)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redis-cli is not installed (Debian's redis-tools, which redis-server depends on)")
	}
	if out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-yes")...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range nodes {
		for {
			info, _ := n.client().ClusterInfo(context.Background()).Result()
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok at %s:\n%s", n.addr, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

// sentinelSetup is a master, its replica and one Sentinel watching them.
type sentinelSetup struct {
	master, replica, sentinel *redisServer
}

const sentinelMaster = "authz-master"

func startSentinel(t testing.TB) *sentinelSetup {
	t.Helper()
	s := &sentinelSetup{master: startRedisNode(t)}
	host, port, _ := net.SplitHostPort(s.master.addr)
	s.replica = startRedisNode(t, "--replicaof", host, port)
	dir := t.TempDir()
	sport := freePort(t)
	_, sp, _ := net.SplitHostPort(sport)
	conf := filepath.Join(dir, "sentinel.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 500\nsentinel failover-timeout %s 3000\n",
		sp, dir, sentinelMaster, host, port, sentinelMaster, sentinelMaster)), 0o600)
	s.sentinel = &redisServer{t: t, addr: sport, dir: dir}
	s.sentinel.cmd = exec.Command(findRedis(t), conf, "--sentinel")
	s.sentinel.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.sentinel.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.sentinel.stop)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sport})
	defer sc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Ready once it knows the master and has found the replica.
		addr, err := sc.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
		replicas, _ := sc.Replicas(context.Background(), sentinelMaster).Result()
		if err == nil && len(addr) == 2 && len(replicas) == 1 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel not ready: %v %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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
			nodes := startCluster(t)
			return config.Redis{Mode: "cluster", Addrs: []string{nodes[0].addr, nodes[1].addr}, Timeout: time.Second}
		},
		"sentinel": func(t *testing.T) config.Redis {
			s := startSentinel(t)
			return config.Redis{Mode: "sentinel", Addrs: []string{s.sentinel.addr}, MasterName: sentinelMaster, Timeout: time.Second}
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
			for read(b.check(withToken(tok))).name != "invalid" {
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
	nodes := startCluster(t)
	idp := newIdP(t)
	rc := config.Redis{Mode: "cluster", Addrs: []string{nodes[0].addr}, Timeout: 100 * time.Millisecond}
	a := startIntrospect(t, idp, modeConfig(t, idp, rc))
	nodes[2].stop()
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
	s := startSentinel(t)
	idp := newIdP(t)
	rc := config.Redis{Mode: "sentinel", Addrs: []string{s.sentinel.addr}, MasterName: sentinelMaster, Timeout: 200 * time.Millisecond}
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
				if got := read(a.check(withToken(tok))).name; got != want {
					wrong.Add(1)
					t.Errorf("a Check got %s, want %s", got, want)
				}
				checks.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	s.master.stop() // SIGKILL
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.sentinel.addr})
	defer sc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		addr, _ := sc.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
		if len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == s.replica.addr {
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
	for read(c.check(withToken(tok))).name != "invalid" {
		if time.Now().After(purgeDeadline) {
			t.Fatal("after the failover, a purge on A did not reach C within 1s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("failover: master killed; replica promoted after %v; shared hits resumed after %v; %d Checks, %d wrong", promoted.Round(time.Millisecond), resumed.Round(time.Millisecond), checks.Load(), wrong.Load())
}

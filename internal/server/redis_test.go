package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/rediscache"
	"github.com/authz-dev/authz/internal/testidp"
)

// redisServer is a real redis-server on a loopback port, without persistence.
type redisServer struct {
	t    testing.TB
	addr string
	cmd  *exec.Cmd
	args []string // beyond port, bind and no persistence
	dir  string
	// exited closes when the process has exited and been reaped.
	exited chan struct{}
}

func findRedis(t testing.TB) string {
	needsProcess(t, "redis-server")
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("redis-server is not installed: run `make test` (it installs Debian's redis-server as root) or apt-get install redis-server")
	return ""
}

func startRedis(t *testing.T) *redisServer { return startRedisTB(t) }

func startRedisTB(t testing.TB) *redisServer {
	t.Helper()
	r := &redisServer{t: t}
	r.startOnAFreePort()
	t.Cleanup(r.stop)
	return r
}

// startOnAFreePort starts the server on a port nothing listened on a
// moment ago; tests start servers in parallel, so one may take it first:
// then another port.
func (r *redisServer) startOnAFreePort() {
	r.t.Helper()
	var err error
	for range 3 {
		r.addr = freePort(r.t)
		if err = r.tryStart(); err == nil {
			return
		}
	}
	r.t.Fatal(err)
}

// start starts the server again on its own port (a restart).
func (r *redisServer) start() {
	r.t.Helper()
	if err := r.tryStart(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *redisServer) tryStart() error {
	_, port, _ := net.SplitHostPort(r.addr)
	if r.dir == "" {
		r.dir = r.t.TempDir()
	}
	r.cmd = exec.Command(findRedis(r.t), append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}, r.args...)...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	r.exited = exited
	go func(cmd *exec.Cmd) { cmd.Wait(); close(exited) }(r.cmd) // the one reaper
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := redis.NewClient(&redis.Options{Addr: r.addr})
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err == nil {
			return nil
		}
		select {
		case <-exited: // its port was taken, most likely
			r.cmd, r.exited = nil, nil
			return fmt.Errorf("redis-server on %s exited at start: %v", r.addr, err)
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			return fmt.Errorf("redis-server did not answer on %s: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	if r.exited != nil {
		<-r.exited
	} else {
		r.cmd.Wait()
	}
	r.cmd, r.exited = nil, nil
}

func (r *redisServer) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// sharedConfig is introspectConfig with the Redis tier and an admin listener.
func sharedConfig(t testing.TB, idp *testidp.IdP, redisAddr string) *config.Config {
	salt := filepath.Join(t.TempDir(), "salt")
	if err := os.WriteFile(salt, []byte("0123456789abcdef-deployment-salt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := introspectConfig(idp)
	cfg.Cache.Redis = config.Redis{Addr: redisAddr, KeySaltFile: salt}
	cfg.Admin.Addr = "127.0.0.1:0"
	return cfg
}

func TestSharedCacheAcrossReplicas(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	rs := startRedis(t)
	idp := newIdP(t)
	a := startIntrospect(t, idp, sharedConfig(t, idp, rs.addr))
	b := startIntrospect(t, idp, sharedConfig(t, idp, rs.addr))

	t.Run("a token introspected by A is served by B without asking the IdP", func(t *testing.T) {
		tok := a.opaque("uma", time.Hour)
		a.expect(a.check(withToken(tok)), "allow", 200)
		n := idp.Introspections()
		o := b.expect(b.check(withToken(tok)), "allow", 200)
		if o.headers["x-user-id"] != "uma" {
			t.Errorf("B's x-user-id = %q", o.headers["x-user-id"])
		}
		if got := idp.Introspections() - n; got != 0 {
			t.Errorf("B asked the IdP %d times", got)
		}
	})
	t.Run("an invalid result is shared too", func(t *testing.T) {
		tok := a.opaque("vic", time.Hour)
		idp.Revoke(tok)
		a.expect(a.check(withToken(tok)), "invalid", 401)
		n := idp.Introspections()
		b.expect(b.check(withToken(tok)), "invalid", 401)
		if got := idp.Introspections() - n; got != 0 {
			t.Errorf("B asked the IdP %d times", got)
		}
	})
	t.Run("JWT results are shared", func(t *testing.T) {
		tok := a.mint("ec-1", a.validClaims())
		a.expect(a.check(withToken(tok)), "allow", 200)
		before := b.verifications()
		b.expect(b.check(withToken(tok)), "allow", 200)
		if got := b.verifications() - before; got != 0 {
			t.Errorf("B verified the signature %v times", got)
		}
	})
	t.Run("nothing readable at rest", func(t *testing.T) {
		c := idp.Claims("wendy-secret-subject", time.Hour, "orders:read", "orders-api")
		c["username"] = "wendy@private.example"
		tok := idp.IssueOpaque(c)
		a.expect(a.check(withToken(tok)), "allow", 200)
		jwt := a.mint("rsa-1", a.validClaims())
		a.expect(a.check(withToken(jwt)), "allow", 200)
		rc := rs.client()
		keys, err := rc.Keys(context.Background(), "*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys: %v %v", keys, err)
		}
		secrets := []string{tok, strings.TrimPrefix(tok, "op_"), jwt, strings.Split(jwt, ".")[1], "wendy-secret-subject", "wendy@private.example", "alice", "orders:read", "demo-client"}
		for _, k := range keys {
			v, _ := rc.Get(context.Background(), k).Bytes()
			for _, s := range secrets {
				if strings.Contains(k, s) || bytes.Contains(v, []byte(s)) {
					t.Errorf("Redis key or value holds %q", s)
				}
			}
		}
	})
	t.Run("the Redis TTL never passes exp", func(t *testing.T) {
		c := idp.Claims("xena", time.Hour, "orders:read", "orders-api")
		c["exp"] = time.Now().Add(5 * time.Second).Unix()
		tok := idp.IssueOpaque(c)
		rc := rs.client()
		before, _ := rc.Keys(context.Background(), "*").Result()
		a.expect(a.check(withToken(tok)), "allow", 200)
		after, _ := rc.Keys(context.Background(), "*").Result()
		if len(after) != len(before)+1 {
			t.Fatalf("want one new key, got %d → %d", len(before), len(after))
		}
		for _, k := range after {
			if slices.Contains(before, k) {
				continue
			}
			ttl, err := rc.PTTL(context.Background(), k).Result()
			if err != nil || ttl <= 0 || ttl > 5*time.Second {
				t.Errorf("PTTL %v (err %v), want within the token's remaining 5s", ttl, err)
			}
		}
	})
	t.Run("a tampered value is ignored and revalidated", func(t *testing.T) {
		tok := a.opaque("yara", time.Hour)
		rc := rs.client()
		before, _ := rc.Keys(context.Background(), "*").Result()
		a.expect(a.check(withToken(tok)), "allow", 200)
		after, _ := rc.Keys(context.Background(), "*").Result()
		for _, k := range after {
			if slices.Contains(before, k) {
				continue
			}
			v, _ := rc.Get(context.Background(), k).Bytes()
			v[len(v)-1] ^= 0xff
			rc.Set(context.Background(), k, v, time.Minute)
		}
		c := startIntrospect(t, idp, sharedConfig(t, idp, rs.addr)) // a replica with an empty memory
		n := idp.Introspections()
		c.expect(c.check(withToken(tok)), "allow", 200)
		if got := idp.Introspections() - n; got != 1 {
			t.Errorf("a tampered entry led to %d introspections, want 1 (revalidated)", got)
		}
		if c.srv.current().shared.Faults() == 0 {
			t.Error("the tampered value was not counted as a fault")
		}
	})
	t.Run("purge on A: B denies within a second", func(t *testing.T) {
		tok := a.opaque("zoe", time.Hour)
		a.expect(a.check(withToken(tok)), "allow", 200)
		b.expect(b.check(withToken(tok)), "allow", 200)
		idp.Revoke(tok) // the IdP now says inactive
		resp, err := http.Post("http://"+a.srv.adminLn.Addr().String()+"/admin/purge", "application/x-www-form-urlencoded", strings.NewReader("token="+url.QueryEscape(tok)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST /admin/purge: %v %v", resp, err)
		}
		var rep struct {
			Purged, CachedHere, Shared bool
			Subscribers                int64
		}
		json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		// Both replicas subscribe: A (which sent it) and B.
		if !rep.Purged || !rep.Shared || rep.Subscribers < 2 {
			t.Errorf("purge report %+v", rep)
		}
		if !strings.Contains(a.logs.String(), `"msg":"purge"`) || !strings.Contains(a.logs.String(), `"remote":"127.0.0.1:`) {
			t.Error("the admin action is not logged with its caller")
		}
		deadline := time.Now().Add(time.Second)
		for read(b.check(withToken(tok))).name != "invalid" {
			if time.Now().After(deadline) {
				t.Fatal("B still allows a purged token after 1s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		a.expect(a.check(withToken(tok)), "invalid", 401)
	})
	t.Run("Redis down: answers stay right; back: sharing resumes", func(t *testing.T) {
		rs.stop()
		tok := a.opaque("amy", time.Hour)
		revoked := a.opaque("ben", time.Hour)
		idp.Revoke(revoked)
		a.expect(a.check(withToken(tok)), "allow", 200)
		b.expect(b.check(withToken(tok)), "allow", 200) // from the IdP, not an error
		a.expect(a.check(withToken(revoked)), "invalid", 401)
		if a.srv.current().shared.Faults() == 0 {
			t.Error("Redis faults were not counted")
		}
		if a.health().String() != "SERVING" {
			t.Error("readiness must not depend on Redis")
		}
		rs.start()
		tok2 := a.opaque("cal", time.Hour)
		deadline := time.Now().Add(5 * time.Second)
		for {
			a.expect(a.check(withToken(tok2)), "allow", 200)
			n := idp.Introspections()
			b.expect(b.check(withToken(tok2)), "allow", 200)
			if idp.Introspections() == n {
				break // B was served from Redis
			}
			if time.Now().After(deadline) {
				t.Fatal("sharing did not resume after Redis came back")
			}
			tok2 = a.opaque(fmt.Sprintf("cal-%d", time.Now().UnixNano()), time.Hour)
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestPurgeNeedsAToken(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	idp := newIdP(t)
	h := startIntrospect(t, idp, sharedConfig(t, idp, rs.addr))
	resp, err := httpPost("http://"+h.srv.adminLn.Addr().String()+"/admin/purge", "")
	if err != nil || resp != 400 {
		t.Errorf("empty purge: %d %v", resp, err)
	}
}

// httpPostJSON posts a form and decodes the JSON answer into out.
func httpPostJSON(url, form string, out any) (int, error) {
	resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

func httpPost(url, form string) (int, error) {
	resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// A purge from another replica reaches cache scopes a reload added: the
// subscription follows the core serving now, not the first one.
func TestPurgeReachesScopesAReloadAdded(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	idp := newIdP(t)
	a := startIntrospect(t, idp, sharedConfig(t, idp, rs.addr))
	b := startIntrospect(t, idp, sharedConfig(t, idp, rs.addr))
	second := sharedConfig(t, idp, rs.addr)
	second.Introspection = append(second.Introspection, config.Introspection{Name: "second", Endpoint: idp.IntrospectionURL(), ClientID: "authz", ClientSecret: "s3cret"})
	second.Policies["via-second"] = config.Policy{Validators: []string{"second"}}
	for _, h := range []*harness{a, b} {
		if err := h.reload(second); err != nil {
			t.Fatal(err)
		}
	}
	tok := b.opaque("pia", time.Hour)
	b.expect(b.check(withToken(tok), withPolicy("via-second")), "allow", 200)
	idp.Revoke(tok)
	if code, err := httpPost("http://"+a.srv.adminLn.Addr().String()+"/admin/purge", "token="+url.QueryEscape(tok)); err != nil || code != 200 {
		t.Fatalf("POST /admin/purge: %d %v", code, err)
	}
	deadline := time.Now().Add(time.Second)
	for read(b.check(withToken(tok), withPolicy("via-second"))).name != "invalid" {
		if time.Now().After(deadline) {
			t.Fatal("B still allows, under the scope its reload added, a token purged on A")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A purge leaves a tombstone: a verdict judged before it and written after
// it (a replica that was mid-validation, or a sealed value replayed) is
// never read back; one judged after it is.
func TestAPurgedVerdictIsNotWrittenBack(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	c, err := rediscache.New(rediscache.Options{Addrs: []string{rs.addr}, Salt: []byte("0123456789abcdef-deployment-salt"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	entry := func(judged time.Time) authz.SharedEntry {
		return authz.SharedEntry{Result: &authz.Result{Validator: "corp", Claims: map[string]any{"sub": "alice"}, Expiry: time.Now().Add(time.Hour)},
			Until: time.Now().Add(time.Hour), Fingerprint: "f", Judged: judged}
	}
	before := time.Now().Add(-time.Second)
	c.Set(ctx, "tok", "corp", entry(before))
	if _, ok := c.Get(ctx, "tok", "corp"); !ok {
		t.Fatal("the entry was not shared")
	}
	if _, err := c.Purge(ctx, "tok", []string{"corp"}); err != nil {
		t.Fatal(err)
	}
	c.Set(ctx, "tok", "corp", entry(before)) // late, judged before the purge
	if _, ok := c.Get(ctx, "tok", "corp"); ok {
		t.Error("a verdict judged before the purge was read back after it")
	}
	if c.Faults() != 0 {
		t.Errorf("the tombstone counted %d faults", c.Faults())
	}
	time.Sleep(5 * time.Millisecond) // judged strictly after the purge, at ms precision
	c.Set(ctx, "tok", "corp", entry(time.Now()))
	if _, ok := c.Get(ctx, "tok", "corp"); !ok {
		t.Error("a verdict judged after the purge is not shared")
	}
}

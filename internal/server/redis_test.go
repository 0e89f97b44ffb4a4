package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/redistest"
	"github.com/authz-dev/authz/internal/testidp"
)

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
	rs := redistest.Start(t)
	idp := newIdP(t)
	a := startIntrospect(t, idp, sharedConfig(t, idp, rs.Addr))
	b := startIntrospect(t, idp, sharedConfig(t, idp, rs.Addr))

	t.Run("a token introspected by A is served by B without asking the IdP", func(t *testing.T) {
		tok := a.opaque("uma", time.Hour)
		a.expect(a.check(withToken(tok)), "allow", 200)
		n := idp.Introspections()
		o := b.expect(b.check(withToken(tok)), "allow", 200)
		if o.Headers["x-user-id"] != "uma" {
			t.Errorf("B's x-user-id = %q", o.Headers["x-user-id"])
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
		rc := rs.Client()
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
		rc := rs.Client()
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
		rc := rs.Client()
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
		c := startIntrospect(t, idp, sharedConfig(t, idp, rs.Addr)) // a replica with an empty memory
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
		for read(b.check(withToken(tok))).Outcome != "invalid" {
			if time.Now().After(deadline) {
				t.Fatal("B still allows a purged token after 1s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		a.expect(a.check(withToken(tok)), "invalid", 401)
	})
	t.Run("Redis down: answers stay right; back: sharing resumes", func(t *testing.T) {
		rs.Stop()
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
		rs.Start()
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
	rs := redistest.Start(t)
	idp := newIdP(t)
	h := startIntrospect(t, idp, sharedConfig(t, idp, rs.Addr))
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
	rs := redistest.Start(t)
	idp := newIdP(t)
	// A purge has 10× the Redis timeout; the 50 ms default is a fleet's
	// budget, and a loaded test machine ran past its 500 ms (a 502). No
	// Redis stops here, so a long timeout costs nothing.
	shared := func() *config.Config {
		cfg := sharedConfig(t, idp, rs.Addr)
		cfg.Cache.Redis.Timeout = 5 * time.Second
		return cfg
	}
	a := startIntrospect(t, idp, shared())
	b := startIntrospect(t, idp, shared())
	second := shared()
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
	deadline := time.Now().Add(10 * time.Second)
	for read(b.check(withToken(tok), withPolicy("via-second"))).Outcome != "invalid" {
		if time.Now().After(deadline) {
			t.Fatal("B still allows, under the scope its reload added, a token purged on A")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

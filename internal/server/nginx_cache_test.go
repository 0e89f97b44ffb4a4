package server

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
)

// decisions counts the decisions h made, every label together: how many
// auth subrequests reached it.
func (h *harness) decisions() float64 {
	h.t.Helper()
	var n float64
	sc := bufio.NewScanner(strings.NewReader(h.metricsText()))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "authz_decisions_total{"); ok {
			v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
			if err != nil {
				h.t.Fatalf("metric line %q: %v", sc.Text(), err)
			}
			n += v
		}
	}
	return n
}

// With the opt-in cache snippet, nginx reuses an answer authz said it may
// keep — for that token, host and location only, for no longer than authz
// said — and asks again for everything else.
func TestNginxKeepsOnlyWhatAuthzLetsIt(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	// Bounds of 5 s: authz says N = 3 (a second under what is left, whole
	// seconds), so the repeat requests have seconds to arrive on a busy
	// machine, and the waits past the bound are the bound itself.
	start := func(t *testing.T, idp *testidp.IdP, edit func(*config.Config)) (*harness, string) {
		cfg := nginxProfileConfig(idp)
		cfg.HTTP.ProxyCacheMax = 5 * time.Second
		cfg.Cache.NegativeTTL = ptr(5 * time.Second)
		if edit != nil {
			edit(cfg)
		}
		h := startIntrospect(t, idp, cfg)
		backend := strings.TrimPrefix(echoBackend(t).URL, "http://")
		return h, startNginxRecipe(t, nginxRecipe{authz: h.srv.httpLn.Addr().String(), backend: backend, pass: "http://backend", cache: true})
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	// asks sends the request through nginx and reports whether it reached
	// authz, and nginx's status.
	asks := func(t *testing.T, h *harness, addr, path string, headers map[string]string) (bool, int) {
		t.Helper()
		before := h.decisions()
		r := viaNginx(t, addr, path, headers)
		return h.decisions() > before, r.status
	}

	t.Run("a token's allow is kept for it alone, for its location, until authz's bound", func(t *testing.T) {
		t.Parallel()
		idp := newIdP(t)
		h, nginx := start(t, idp, nil)
		reader := h.mint("rsa-1", idp.Claims("rita", time.Hour, "orders:read", "orders-api"))
		writer := h.mint("rsa-1", idp.Claims("walt", time.Hour, "orders:read orders:write", "orders-api"))
		if asked, status := asks(t, h, nginx, "/reports/1", bearer(reader)); !asked || status != 200 {
			t.Fatalf("first request: asked %v, %d", asked, status)
		}
		if asked, status := asks(t, h, nginx, "/reports/2", bearer(reader)); asked || status != 200 {
			t.Errorf("same token, same location: asked %v (want the kept answer), %d", asked, status)
		}
		// The claim headers come from the kept answer too.
		if r := viaNginx(t, nginx, "/reports/3", bearer(reader)); r.upstream.Get("X-User-Id") != "rita" {
			t.Errorf("kept answer's claims: X-User-Id %q", r.upstream.Get("X-User-Id"))
		}
		if asked, status := asks(t, h, nginx, "/reports/1", bearer(writer)); !asked || status != 200 {
			t.Errorf("another token: asked %v, %d", asked, status)
		}
		if asked, status := asks(t, h, nginx, "/orders/1", bearer(reader)); !asked || status != 403 {
			t.Errorf("another location (orders-write): asked %v, %d; want authz's 403", asked, status)
		}
		if asked, _ := asks(t, h, nginx, "/reports/1", map[string]string{"Authorization": "Bearer " + reader, "Host": "other.example"}); !asked {
			t.Error("another host: the kept answer was served")
		}
		// Targets authz might refuse or read otherwise are never served
		// from the cache.
		for _, path := range []string{"/reports/%2e%2e/x", "/reports/a;b", "/reports//x", "/reports/./x"} {
			if asked, _ := asks(t, h, nginx, path, bearer(reader)); !asked {
				t.Errorf("%s: served from the cache", path)
			}
		}
		time.Sleep(5100 * time.Millisecond) // proxy_cache_max
		if asked, _ := asks(t, h, nginx, "/reports/1", bearer(reader)); !asked {
			t.Error("the answer was kept past http.proxy_cache_max")
		}
	})

	t.Run("a denial is kept no longer than negative_ttl; an error, never", func(t *testing.T) {
		t.Parallel()
		idp := newIdP(t) // its own: it goes down below
		h, nginx := start(t, idp, nil)
		revoked := h.opaque("rex", time.Hour)
		idp.Revoke(revoked)
		if asked, status := asks(t, h, nginx, "/x", bearer(revoked)); !asked || status != 401 {
			t.Fatalf("revoked: asked %v, %d", asked, status)
		}
		if asked, status := asks(t, h, nginx, "/x", bearer(revoked)); asked || status != 401 {
			t.Errorf("revoked again: asked %v (want the kept denial), %d", asked, status)
		}
		time.Sleep(5100 * time.Millisecond) // negative_ttl
		if asked, _ := asks(t, h, nginx, "/x", bearer(revoked)); !asked {
			t.Error("a denial was kept past negative_ttl")
		}
		down := h.opaque("dora", time.Hour)
		idp.SetDown(true)
		for range 2 {
			if asked, status := asks(t, h, nginx, "/x", bearer(down)); !asked || status != 503 {
				t.Errorf("IdP down: asked %v, %d; want authz asked every time", asked, status)
			}
		}
		idp.SetDown(false)
	})

	// A rule over the claims alone reads only the token: its answer is kept.
	t.Run("a rule over the claims alone", func(t *testing.T) {
		t.Parallel()
		idp := newIdP(t)
		h, nginx := start(t, idp, func(c *config.Config) {
			def := c.Policies["default"]
			def.Rules = []config.Rule{{Name: "readers", Expr: `claims.scope.contains("orders:read")`}}
			c.Policies["default"] = def
		})
		tok := h.mint("rsa-1", idp.Claims("rita", time.Hour, "orders:read", "orders-api"))
		if asked, status := asks(t, h, nginx, "/reports/1", bearer(tok)); !asked || status != 200 {
			t.Fatalf("first: asked %v, %d", asked, status)
		}
		if asked, _ := asks(t, h, nginx, "/reports/2", bearer(tok)); asked {
			t.Error("a claims-only rule's answer was not kept")
		}
	})

	// A policy whose answer reads more than the token is never kept.
	for name, edit := range map[string]func(*config.Config){
		"a rule over the request": func(c *config.Config) {
			def := c.Policies["default"]
			def.Rules = []config.Rule{{Name: "gets", Expr: `request.method == "GET"`}}
			c.Policies["default"] = def
		},
		"a DPoP policy": func(c *config.Config) {
			def := c.Policies["default"]
			def.SenderConstraint = "dpop"
			c.Policies["default"] = def
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			idp := newIdP(t)
			h, nginx := start(t, idp, edit)
			tok := h.mint("rsa-1", idp.Claims("rita", time.Hour, "orders:read", "orders-api"))
			for range 2 {
				if asked, _ := asks(t, h, nginx, "/reports/1", bearer(tok)); !asked {
					t.Error("served from the cache")
				}
			}
		})
	}
}

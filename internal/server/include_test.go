package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
)

// A team's included file is part of the running config: its routes and
// policies answer, a reload reads it again, a bad one is refused with the
// running config kept, and -watch sees a team's new file.
func TestIncludedFilesAtRunTime(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	dir := t.TempDir()
	main := filepath.Join(dir, "authz.yaml")
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("authz.yaml", fmt.Sprintf(`include: [{ files: teams/*.yaml, scope: { path_prefixes: [/orders/, /billing/] } }]
grpc: { addr: "127.0.0.1:0" }
http: { addr: "127.0.0.1:0" }
cache: { max_bytes: 8388608 }
issuers:
  - { name: corp, issuer: %q, jwks_url: %q, audiences: [orders-api] }
policies:
  default: {}
routes_unmatched: deny
`, idp.Issuer(), idp.JWKSURL()))
	write("teams/orders.yaml", `policies:
  orders: { require_scopes: [orders:write] }
routes:
  - { name: orders, match: { path_prefix: /orders/ }, policy: orders }
`)
	cfg, err := config.Load(main)
	if err != nil {
		t.Fatal(err)
	}
	h := startWith(t, idp, cfg)
	h.waitServing()
	reader := h.mint("ec-1", idp.Claims("rita", time.Hour, "orders:read", "orders-api"))
	h.expect(h.check(withToken(reader)), "forbidden", 403) // the team's route and policy

	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.srv.Follow(ctx, main, func() (*config.Config, error) { return config.Load(main) }, hup, false)
	reloaded := func(want string, status int) {
		t.Helper()
		before := h.metric(`authz_config_reloads_total{result="ok"}`) + h.metric(`authz_config_reloads_total{result="error"}`)
		hup <- syscall.SIGHUP
		deadline := time.Now().Add(5 * time.Second)
		for h.metric(`authz_config_reloads_total{result="ok"}`)+h.metric(`authz_config_reloads_total{result="error"}`) == before {
			if time.Now().After(deadline) {
				t.Fatal("the reload did not happen")
			}
			time.Sleep(10 * time.Millisecond)
		}
		h.expect(h.check(withToken(reader)), want, status)
	}

	// The team lets readers in.
	write("teams/orders.yaml", "policies:\n  orders: { require_scopes: [orders:read] }\nroutes:\n  - { name: orders, match: { path_prefix: /orders/ }, policy: orders }\n")
	reloaded("allow", 200)
	// A broken file: refused, the running config still answers.
	write("teams/orders.yaml", "policies:\n  orders: { require_scope: [orders:read] }\n")
	reloaded("allow", 200)
	if h.metric(`authz_config_reloads_total{result="error"}`) != 1 {
		t.Error("the broken file's reload was not counted as refused")
	}
	// A second team's file that redefines orders' policy: refused too.
	write("teams/orders.yaml", "policies:\n  orders: { require_scopes: [orders:read] }\nroutes:\n  - { name: orders, match: { path_prefix: /orders/ }, policy: orders }\n")
	write("teams/zz.yaml", "policies:\n  orders: {}\n")
	reloaded("allow", 200)
	if h.metric(`authz_config_reloads_total{result="error"}`) != 2 {
		t.Error("a policy defined in two files was not refused")
	}
	os.Remove(filepath.Join(dir, "teams/zz.yaml"))

	// -watch follows the files the globs name now, a new one included.
	if got := h.srv.WatchedFiles(main); !slices.Contains(got, filepath.Join(dir, "teams/orders.yaml")) {
		t.Errorf("watched %q: the included file is missing", got)
	}
	write("teams/payments.yaml", "policies:\n  payments: {}\n")
	if got := h.srv.WatchedFiles(main); !slices.Contains(got, filepath.Join(dir, "teams/payments.yaml")) {
		t.Errorf("watched %q: a team's new file is missing", got)
	}
}

package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authz-dev/authz/internal/checktest"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testlog"
	"github.com/authz-dev/authz/internal/testsupport"
)

// harness is a real authz server on loopback, a real IdP, and a real gRPC client.
type harness struct {
	t      testing.TB
	idp    *testidp.IdP
	srv    *Server
	conn   *grpc.ClientConn
	client authv3.AuthorizationClient
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func ptr[T any](v T) *T { return &v }

// needsProcess skips a test that starts an outside program (nginx, Caddy,
// Node, redis-server, promtool) under -short: make test-unit runs the rest
// in seconds, make test runs everything.
func needsProcess(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: this test runs %s", what)
	}
}

// waitsOnClock skips, under -short, a test that waits seconds of real
// time for TTLs and expiries of a running server (make test runs it).
func waitsOnClock(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test waits on real TTLs")
	}
}

// baseConfig is a complete config against idp, built fresh on every call
// so a test can change any field before starting a server with it.
func baseConfig(idp *testidp.IdP) *config.Config {
	return &config.Config{
		GRPC: config.GRPC{Addr: "127.0.0.1:0"},
		// Tests that call the HTTP door directly are Envoy's http_service:
		// the check request's own method, Host and path after /check.
		HTTP: config.HTTP{Addr: "127.0.0.1:0", Proxy: "envoy"},
		// Small caches: ristretto sizes its admission sketch by max_bytes, and
		// ninety servers with the 256 MiB default cost the suite seconds.
		Cache: config.Cache{TTL: 30 * time.Second, NegativeTTL: ptr(5 * time.Second), MaxBytes: 8 << 20},
		Issuers: []config.Issuer{{
			Name: "corp", Issuer: idp.Issuer(), JWKSURL: idp.JWKSURL(),
			Algorithms: []string{"RS256", "ES256", "EdDSA"}, Audiences: []string{"orders-api"},
			Leeway: ptr(time.Duration(0)), MinRefreshInterval: 10 * time.Millisecond,
		}},
		Policies: map[string]config.Policy{
			"default": {
				Headers:         map[string]string{"sub": "x-user-id", "scope": "x-scopes", "realm_access.roles": "x-roles", "email": "x-email", "exp": "x-exp"},
				DynamicMetadata: ptr(true),
			},
			"orders-write": {RequireScopes: []string{"orders:write"}},
			"cookie":       {TokenSources: []config.TokenSource{{Header: "authorization", Scheme: "Bearer"}, {Cookie: "access_token"}}},
		},
		Log: config.Log{Level: "debug"},
	}
}

func newIdP(t testing.TB) *testidp.IdP { return testsupport.NewIdP(t) }

// startWith starts authz with cfg.
func startWith(t testing.TB, idp *testidp.IdP, cfg *config.Config) *harness {
	t.Helper()
	if err := config.Complete(cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	srv, err := New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, idp: idp, srv: srv, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Run(ctx) }()
	target := srv.grpcLn.Addr().String()
	if srv.grpcLn.Addr().Network() == "unix" {
		target = "unix:" + target
	}
	h.conn, err = grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h.client = authv3.NewAuthorizationClient(h.conn)
	t.Cleanup(h.stop)
	return h
}

func start(t *testing.T) *harness {
	t.Helper()
	idp := newIdP(t)
	h := startWith(t, idp, baseConfig(idp))
	h.waitServing()
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Error("server did not stop")
	}
	h.conn.Close()
}

func (h *harness) health() healthpb.HealthCheckResponse_ServingStatus {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(h.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: authv3.Authorization_ServiceDesc.ServiceName})
	if err != nil {
		h.t.Fatalf("health: %v", err)
	}
	return resp.GetStatus()
}

func (h *harness) waitServing() {
	h.t.Helper()
	testsupport.WaitFor(h.t, "the server SERVING", func() bool { return h.health() == healthpb.HealthCheckResponse_SERVING })
}

// mint signs claims with the IdP key kid.
func (h *harness) mint(kid string, claims map[string]any) string {
	h.t.Helper()
	tok, err := h.idp.Mint(kid, claims)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// validClaims are claims the base config accepts.
func (h *harness) validClaims() map[string]any {
	return h.idp.Claims("alice", time.Hour, "orders:read orders:write", "orders-api")
}

// The Check requests and answers of checktest, under the names this
// suite reads.
type (
	checkOpt = checktest.Opt
	outcome  = checktest.Answer
)

var (
	withPolicy      = checktest.Policy
	withHeader      = checktest.Header
	withToken       = checktest.Token
	newCheckRequest = checktest.Request
	read            = checktest.Read
)

func (h *harness) check(opts ...checkOpt) *authv3.CheckResponse {
	h.t.Helper()
	return checktest.Check(h.t, h.client, opts...)
}

func (h *harness) expect(resp *authv3.CheckResponse, name string, status int) outcome {
	h.t.Helper()
	return checktest.Expect(h.t, resp, name, status)
}

// metric reads one sample from the server's /metrics, as Prometheus
// would scrape it; 0 when the series does not exist yet.
func (h *harness) metric(series string) float64 {
	h.t.Helper()
	resp, err := http.Get("http://" + h.srv.httpLn.Addr().String() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				h.t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// metricsText is the whole /metrics page.
func (h *harness) metricsText() string {
	h.t.Helper()
	resp, err := http.Get("http://" + h.srv.httpLn.Addr().String() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// verifications is how many JWT signatures issuer corp has verified.
func (h *harness) verifications() float64 {
	return h.metric(`authz_jwt_verifications_total{issuer="corp"}`)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testlog.Buffer

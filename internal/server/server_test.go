package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/buildinfo"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// Readiness follows the keys: a failed refresh after a good load keeps the
// server serving; keys never loaded make it NOT_SERVING, and a Check is the
// error outcome without a challenge. (The core's tests hold the rest of the
// key-set contracts: rotation, outages, sources, one verification.)
func TestJWKSDownAfterFirstLoadKeepsServing(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers[0].RefreshInterval = 20 * time.Millisecond
	h := startWith(t, idp, cfg)
	h.waitServing()
	idp.SetDown(true)
	before := idp.JWKSFetches()
	deadline := time.Now().Add(5 * time.Second)
	for idp.JWKSFetches() < before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if idp.JWKSFetches() < before+2 {
		t.Fatal("no failed refresh happened")
	}
	h.expect(h.check(withToken(h.mint("ec-1", h.validClaims()))), "allow", 200)
	if h.health() != healthpb.HealthCheckResponse_SERVING {
		t.Error("a failed refresh after a good load must not make the server NOT_SERVING")
	}
}

func TestJWKSNeverReachableIsNotServing(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	dead := newIdP(t)
	deadURL := dead.JWKSURL()
	dead.Close()
	cfg := baseConfig(idp)
	cfg.Issuers[0].JWKSURL = deadURL
	h := startWith(t, idp, cfg)
	if st := h.health(); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health = %v, want NOT_SERVING while no keys ever loaded", st)
	}
	o := h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "error", 503)
	if _, ok := o.Headers["www-authenticate"]; ok {
		t.Error("error outcome must not challenge the client")
	}
}

func TestTokenNeverLogged(t *testing.T) {
	t.Parallel()
	h := start(t)
	tok := h.mint("rsa-1", h.validClaims())
	h.check(withToken(tok), withPolicy("orders-write"))
	h.check(withToken(tok + "x"))
	h.check(withToken(tok), withPolicy("nope"))
	logs := h.logs.String()
	if strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
		t.Fatal("the token appears in the logs")
	}
	if !strings.Contains(logs, `"outcome":"invalid"`) || !strings.Contains(logs, `"token":"`) {
		t.Errorf("decision logs missing:\n%s", logs)
	}
}

func TestGracefulShutdownFinishesInFlightChecks(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers[0].MinRefreshInterval = time.Nanosecond // an unknown kid refreshes at once
	h := startWith(t, idp, cfg)
	h.waitServing()
	key, _ := testidp.NewKey("slow", jose.RS256)
	idp.AddKey(key)
	idp.SetDelay(500 * time.Millisecond) // the unknown-kid refresh takes this long
	tok := h.mint("slow", h.validClaims())
	fetches := idp.JWKSFetches()
	got := make(chan outcome, 1)
	go func() {
		resp, err := h.client.Check(context.Background(), newCheckRequest(withToken(tok)))
		if err != nil {
			t.Errorf("in-flight Check failed during shutdown: %v", err)
			got <- outcome{}
			return
		}
		got <- read(resp)
	}()
	// The Check is waiting on the unknown kid's JWKS refresh.
	testsupport.WaitFor(t, "the unknown kid's JWKS refresh", func() bool { return idp.JWKSFetches() > fetches })
	h.cancel() // as SIGTERM does
	if o := <-got; o.Outcome != "allow" {
		t.Errorf("in-flight Check got %q, want allow", o.Outcome)
	}
	if err := <-h.done; err != nil {
		t.Errorf("run: %v", err)
	}
	h.done <- nil // for the cleanup's stop
}

// A policy's error_mode reaches the gRPC door (how each mode answers is
// envoy's TestErrorModes): rpc_error fails the RPC, error_response
// answers error_response, and a denial is answered whatever the mode.
func TestErrorMode(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Policies["envoy-decides"] = config.Policy{ErrorMode: "rpc_error"}
	cfg.Policies["error-response"] = config.Policy{ErrorMode: "error_response"}
	h := startIntrospect(t, idp, cfg)
	idp.SetDown(true)
	tok := h.opaque("eve", time.Hour)
	h.expect(h.check(withToken(tok)), "error", 503)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.client.Check(ctx, newCheckRequest(withToken(tok), withPolicy("envoy-decides"))); status.Code(err) != codes.Unavailable {
		t.Errorf("rpc_error policy: err %v, want UNAVAILABLE", err)
	}
	if resp, err := h.client.Check(ctx, newCheckRequest(withToken(tok), withPolicy("error-response"))); err != nil || resp.GetErrorResponse().GetStatus().GetCode() != 503 {
		t.Errorf("error_response policy: %v, %v", resp, err)
	}
	idp.SetDown(false)
	revoked := h.opaque("fay", time.Hour)
	idp.Revoke(revoked)
	h.expect(h.check(withToken(revoked), withPolicy("envoy-decides")), "invalid", 401)
}

// The config's issuer type, payload header and outcome statuses reach
// the answer (typ and the payload's content are the core's tests).
func TestTypAndPayloadHeaderAndRetryAfter(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers[0].Type = "at+jwt"
	def := cfg.Policies["default"]
	def.PayloadHeader = ptr("x-jwt-payload")
	cfg.Policies["default"] = def
	cfg.Outcomes.Error = config.Outcome{Status: 503, RetryAfter: 2 * time.Second}
	cfg.Outcomes.Invalid.Status = 403
	h := startWith(t, idp, cfg)
	h.waitServing()
	if o := h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "allow", 200); o.Headers["x-jwt-payload"] == "" {
		t.Error("no x-jwt-payload")
	}
	// A plain JWT (typ JWT) is refused; the configured invalid status applies.
	key, _ := idp.SigningKey("rsa-1")
	plain, err := testidp.SignTyped(key, "JWT", h.validClaims())
	if err != nil {
		t.Fatal(err)
	}
	h.expect(h.check(withToken(plain)), "invalid", 403)
	o := h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withPolicy("nope")), "error", 503)
	if o.Headers["retry-after"] != "2" {
		t.Errorf("retry-after = %q", o.Headers["retry-after"])
	}
}

// Listeners on Unix-domain sockets: what a sidecar's proxy dials without TCP.
func TestUnixSocketListeners(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "authz-uds-") // short: socket paths are bounded
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	grpcSock, httpSock := filepath.Join(dir, "grpc.sock"), filepath.Join(dir, "http.sock")
	os.WriteFile(httpSock, nil, 0o600) // not a socket: never removed
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.GRPC.Addr, cfg.HTTP.Addr = "unix:"+grpcSock, "unix:"+httpSock
	if err := config.Complete(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("a regular file at the socket path: %v", err)
	}
	os.Remove(httpSock)
	h := startWith(t, idp, cfg)
	h.waitServing() // over the gRPC socket: the harness dials the listener's address
	h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "allow", 200)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", httpSock)
	}}}
	resp, err := client.Get("http://authz/check")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("the HTTP door over its socket: %d", resp.StatusCode)
	}

	// A second authz on the same paths finds them live: it refuses to
	// start, and the first keeps its listeners.
	second := baseConfig(idp)
	second.GRPC.Addr, second.HTTP.Addr = "unix:"+grpcSock, "unix:"+filepath.Join(dir, "other.sock")
	if err := config.Complete(second); err != nil {
		t.Fatal(err)
	}
	if _, err := New(second, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second authz on a live socket: %v", err)
	}
	h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "allow", 200)
}

// A socket nobody accepts on (left by a crash) is replaced.
func TestDeadUnixSocketIsReplaced(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "authz-uds-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dead.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays; nothing accepts on it
	again, err := listen("unix:" + path)
	if err != nil {
		t.Fatalf("a dead socket was not replaced: %v", err)
	}
	again.Close()
}

// On a stop, with shutdown_delay: health says NOT_SERVING at once while
// both doors still answer; a Check in flight at the HTTP door finishes
// within the grace (once cut off after a hard-coded second).
func TestShutdownDelayAndGraceAtBothDoors(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.GRPC.ShutdownDelay = 500 * time.Millisecond
	cfg.Introspection[0].Timeout = 5 * time.Second
	h := startIntrospect(t, idp, cfg)
	slow := h.opaque("sid", time.Hour)
	idp.SetDelay(1500 * time.Millisecond) // longer than the old HTTP second
	got := make(chan int, 1)
	asked := idp.Introspections()
	go func() {
		req, _ := http.NewRequest("GET", "http://"+h.srv.httpLn.Addr().String()+"/check/orders", nil)
		req.Header.Set("Authorization", "Bearer "+slow)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight HTTP Check failed during shutdown: %v", err)
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	// The Check waits on the IdP.
	testsupport.WaitFor(t, "the Check's introspection", func() bool { return idp.Introspections() > asked })
	h.cancel() // as SIGTERM does
	// Not serving at once, still answering during the delay.
	deadline := time.Now().Add(5 * time.Second)
	for h.health() != healthpb.HealthCheckResponse_NOT_SERVING && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := h.health(); s != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health during the delay: %v", s)
	}
	h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "allow", 200) // answered, not refused
	if code := <-got; code != 200 {
		t.Errorf("in-flight HTTP Check: %d, want 200", code)
	}
	if err := <-h.done; err != nil {
		t.Errorf("run: %v", err)
	}
	h.done <- nil // for the cleanup's stop
}

// Either listener may be off: the other door serves alone, and the server
// reports no address for the one that is off.
func TestListenersOff(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	tok := func() string {
		s, _ := idp.Mint("rsa-1", idp.Claims("alice", time.Hour, "orders:read", "orders-api"))
		return s
	}

	noHTTP := baseConfig(idp)
	noHTTP.HTTP.Addr = config.ListenerOff
	h := startWith(t, idp, noHTTP)
	h.waitServing()
	if h.srv.HTTPAddr() != nil {
		t.Fatalf("http off, yet bound at %v", h.srv.HTTPAddr())
	}
	h.expect(h.check(withToken(tok())), "allow", 200)

	noGRPC := baseConfig(idp)
	noGRPC.GRPC.Addr = config.ListenerOff
	if err := config.Complete(noGRPC); err != nil {
		t.Fatal(err)
	}
	srv, err := New(noGRPC, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if srv.GRPCAddr() != nil {
		t.Fatalf("grpc off, yet bound at %v", srv.GRPCAddr())
	}
	base := "http://" + srv.HTTPAddr().String()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the HTTP listener never got ready")
		}
	}
	req, _ := http.NewRequest("GET", base+"/check/orders/1", nil)
	req.Header.Set("Authorization", "Bearer "+tok())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-User-Id") != "alice" {
		t.Fatalf("forward auth with gRPC off: %d %v", resp.StatusCode, resp.Header)
	}
}

// authz_build_info names the running binary, as authz version does.
func TestBuildInfoMetric(t *testing.T) {
	t.Parallel()
	h := start(t)
	bi := buildinfo.Read()
	want := fmt.Sprintf(`authz_build_info{commit=%q,goversion=%q,version=%q} 1`, bi.Commit, bi.GoVersion, bi.Version)
	if !strings.Contains(h.metricsText(), want) {
		t.Errorf("no %s in /metrics", want)
	}
}

// With no issuer and no introspection endpoint only public policies can
// allow: authz is ready at once, and /readyz says what that means.
func TestReadyWithoutValidatorsSaysWhy(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers = nil
	cfg.Policies = map[string]config.Policy{"default": {Token: "none"}}
	h := startWith(t, idp, cfg)
	h.waitServing()
	h.expect(h.check(), "allow", 200)
	resp, body := h.get("/readyz")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "no issuers or introspection endpoints are configured, so no token is valid") {
		t.Errorf("/readyz: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(h.logs.String(), "only token: none policies allow") {
		t.Error("the ready log line does not say why")
	}

	// With issuers: the keys.
	h2 := start(t)
	if _, body := h2.get("/readyz"); string(body) != "ready: keys loaded for every issuer\n" {
		t.Errorf("/readyz with issuers: %q", body)
	}
}

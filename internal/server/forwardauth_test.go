package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/authz-dev/authz/internal/testidp"
)

// forward sends a forward-auth request to authz's HTTP door.
func (h *harness) forward(method, target string, headers map[string]string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://"+h.srv.httpLn.Addr().String()+target, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestForwardAuthDoor(t *testing.T) {
	t.Parallel()
	h := start(t)
	tok := h.mint("rsa-1", h.validClaims())
	readOnly := h.mint("rsa-1", h.idp.Claims("bob", time.Hour, "orders:read", "orders-api"))

	resp := h.forward("POST", "/check/orders/1", map[string]string{"Authorization": "Bearer " + tok, "X-User-Id": "mallory"})
	if resp.StatusCode != 200 || resp.Header.Get("X-User-Id") != "alice" || resp.Header.Get("X-Authz-Outcome") != "allow" {
		t.Errorf("allow: %d %v", resp.StatusCode, resp.Header)
	}
	if rm := resp.Header.Get("X-Envoy-Auth-Headers-To-Remove"); !strings.Contains(rm, "x-email") || !strings.Contains(rm, "x_user_id") {
		t.Errorf("headers to remove = %q", rm)
	}

	resp = h.forward("POST", "/check", nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="authz"` || resp.Header.Get("X-Authz-Outcome") != "missing" {
		t.Errorf("missing: %d %v", resp.StatusCode, resp.Header)
	}

	// The policy comes from the header the proxy sets (http.policy_from: header, the default).
	resp = h.forward("GET", "/check", map[string]string{"Authorization": "Bearer " + readOnly, "X-Authz-Policy": "orders-write"})
	if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="orders:write"`) {
		t.Errorf("forbidden by header policy: %d %v", resp.StatusCode, resp.Header)
	}

	// Envoy's HTTP ext_authz path-prefix mode: /check/<original path>, original method.
	resp = h.forward("DELETE", "/check/orders/1?x=1", map[string]string{"Authorization": "Bearer " + tok})
	if resp.StatusCode != 200 {
		t.Errorf("prefix mode: %d", resp.StatusCode)
	}
	resp = h.forward("GET", "/check", map[string]string{"Authorization": "Bearer " + tok + "x"})
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("invalid: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestForwardAuthAllowStatus204(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.HTTP.AllowStatus, cfg.HTTP.CheckPath = 204, "/auth"
	h := startWith(t, idp, cfg)
	h.waitServing()
	resp := h.forward("GET", "/auth", map[string]string{"Authorization": "Bearer " + h.mint("ec-1", h.validClaims())})
	if resp.StatusCode != 204 || resp.Header.Get("X-User-Id") != "alice" {
		t.Errorf("got %d %v", resp.StatusCode, resp.Header)
	}
}

func TestMetricsAndHealthEndpoints(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startIntrospect(t, idp, introspectConfig(idp))
	tok := h.mint("rsa-1", h.validClaims())
	h.check(withToken(tok))
	h.check(withToken(tok))
	h.check(withToken(tok), withPolicy("made-up-by-a-route"))
	h.forward("GET", "/check", nil)
	h.check(withToken(h.opaque("pat", time.Hour)))
	idp.SetAnswer(&testidp.Answer{Status: 502})
	h.check(withToken("op_other"))

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + h.srv.httpLn.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`authz_decisions_total{outcome="allow",policy="default",route=""} 3`,
		`authz_decisions_total{outcome="error",policy="unknown",route=""} 1`,
		`authz_decisions_total{outcome="error",policy="default",route=""} 1`,
		`authz_decisions_total{outcome="missing",policy="default",route=""} 1`,
		`authz_check_duration_seconds_count{door="grpc"} 5`,
		`authz_check_duration_seconds_count{door="http"} 1`,
		`authz_checks_in_flight{door="grpc"} 0`,
		`authz_idp_requests_total{endpoint="corp-introspect",result="active"} 1`,
		`authz_idp_requests_total{endpoint="corp-introspect",result="status_5xx"} 1`,
		`authz_jwks_refreshes_total{issuer="corp",result="ok"} 1`,
		`authz_cache_hits_total`,
		`authz_validations_total 3`,
		`authz_cache_cost_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "made-up-by-a-route") || strings.Contains(body, "alice") {
		t.Error("a label took an unbounded value")
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
}

func TestReadyzFollowsKeys(t *testing.T) {
	t.Parallel()
	dead := newIdP(t)
	deadURL := dead.JWKSURL()
	dead.Close()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers[0].JWKSURL = deadURL
	h := startWith(t, idp, cfg)
	resp, err := http.Get("http://" + h.srv.httpLn.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while no keys loaded, want 503", resp.StatusCode)
	}
}

func TestPprofIsOffByDefault(t *testing.T) {
	t.Parallel()
	off := start(t)
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.HTTP.Pprof = true
	on := startWith(t, idp, cfg)
	for _, c := range []struct {
		h    *harness
		want int
	}{{off, 404}, {on, 200}} {
		resp, err := http.Get("http://" + c.h.srv.httpLn.Addr().String() + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("/debug/pprof/: %d, want %d", resp.StatusCode, c.want)
		}
	}
}

func TestReflectionIsOptIn(t *testing.T) {
	t.Parallel()
	for _, want := range []bool{false, true} {
		idp := newIdP(t)
		cfg := baseConfig(idp)
		cfg.GRPC.Reflection = want
		h := startWith(t, idp, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		stream, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		resp, err := stream.Recv()
		cancel()
		got := err == nil && strings.Contains(resp.String(), "envoy.service.auth.v3.Authorization")
		if got != want {
			t.Errorf("reflection answered %v (err %v), want %v", got, err, want)
		}
	}
}

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
		`authz_idp_requests_in_flight{endpoint="corp-introspect"} 0`,
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

package server

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
)

const clusterIssuer = "https://kubernetes.default.svc.cluster.local"

// apiServer is a double of a cluster's API server as authz meets it: TLS
// with a CA of its own, 401 (a Status object) without the pod's bearer
// token, the service-account issuer's discovery and JWKS in the shapes the
// real one serves. garbage makes it answer nonsense.
type apiServer struct {
	*httptest.Server
	unauthorized atomic.Int64
	garbage      atomic.Bool
}

func startAPIServer(t *testing.T, idp *testidp.IdP) (*apiServer, *config.Kubernetes) {
	t.Helper()
	a := &apiServer{}
	mux := http.NewServeMux()
	status401 := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`
	authed := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer pod-token" {
			a.unauthorized.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(status401))
			return false
		}
		return true
	}
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		if !authed(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if a.garbage.Load() {
			w.Write([]byte(`{"keys": "not a list"`))
			return
		}
		json.NewEncoder(w).Encode(idp.KeySet())
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if !authed(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": clusterIssuer, "jwks_uri": "https://10.0.0.1:6443/openid/v1/jwks",
			"response_types_supported": []string{"id_token"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	a.Server = httptest.NewTLSServer(mux)
	t.Cleanup(a.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw}), 0o600)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("pod-token\n"), 0o600)
	return a, &config.Kubernetes{APIServer: a.URL, CAFile: ca, TokenFile: token}
}

// saToken is a projected service-account token as the kubelet mounts it.
func saToken(h *harness, namespace, aud string, bound bool) string {
	c := h.idp.Claims("system:serviceaccount:"+namespace+":orders", time.Hour, "")
	c["iss"], c["aud"] = clusterIssuer, []any{aud}
	k8s := map[string]any{"namespace": namespace, "serviceaccount": map[string]any{"name": "orders", "uid": "sa-uid-1"}}
	if bound {
		k8s["pod"] = map[string]any{"name": "orders-7d9f", "uid": "pod-uid-1"}
		k8s["node"] = map[string]any{"name": "node-1", "uid": "node-uid-1"}
	}
	c["kubernetes.io"] = k8s
	return h.mint("rsa-1", c)
}

// Service-account tokens over both doors: keys from the API server with
// its CA and the pod's bearer token, the audience checked, the
// kubernetes.io claims readable under plain names in headers and rules; a
// JWT of this issuer that is no service-account token is invalid, and an
// API server that answers garbage is an error, never an allow.
func TestKubernetesServiceAccountTokens(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	api, kube := startAPIServer(t, idp)
	cfg := baseConfig(idp)
	cfg.Issuers = append(cfg.Issuers, config.Issuer{Name: "cluster", Issuer: clusterIssuer, Kubernetes: kube,
		Audiences: []string{"authz"}, Algorithms: []string{"RS256", "ES256"}, Leeway: ptr(time.Duration(0)), MinRefreshInterval: 10 * time.Millisecond})
	cfg.Policies["workloads"] = config.Policy{
		Validators: []string{"cluster"},
		Headers:    map[string]string{"k8s_namespace": "x-namespace", "k8s_service_account": "x-service-account", "k8s_pod": "x-pod"},
		Rules:      []config.Rule{{Name: "shop-only", Expr: `claims.k8s_namespace == "shop"`}},
	}
	h := startWith(t, idp, cfg)
	h.waitServing()

	o := h.expect(h.check(withPolicy("workloads"), withToken(saToken(h, "shop", "authz", true))), "allow", 200)
	if o.headers["x-namespace"] != "shop" || o.headers["x-service-account"] != "orders" || o.headers["x-pod"] != "orders-7d9f" {
		t.Errorf("service-account claims: %v", o.headers)
	}
	h.expect(h.check(withPolicy("workloads"), withToken(saToken(h, "billing", "authz", false))), "forbidden", 403)
	h.expect(h.check(withPolicy("workloads"), withToken(saToken(h, "shop", "another-audience", true))), "invalid", 401)
	plain := h.idp.Claims("alice", time.Hour, "")
	plain["iss"], plain["aud"] = clusterIssuer, "authz"
	h.expect(h.check(withPolicy("workloads"), withToken(h.mint("rsa-1", plain))), "invalid", 401)
	resp := h.forward("GET", "/check/orders", map[string]string{"X-Authz-Policy": "workloads", "Authorization": "Bearer " + saToken(h, "shop", "authz", true)})
	if resp.StatusCode != 200 || resp.Header.Get("X-Namespace") != "shop" {
		t.Errorf("http door: %d %v", resp.StatusCode, resp.Header)
	}
	if n := api.unauthorized.Load(); n != 0 {
		t.Errorf("%d requests reached the API server without the pod's token", n)
	}

	// An API server that answers garbage from the start: a Check of its
	// issuer's token is an error, not an allow and not invalid.
	idp2 := newIdP(t)
	api2, kube2 := startAPIServer(t, idp2)
	api2.garbage.Store(true)
	cfg2 := baseConfig(idp2)
	cfg2.Issuers = []config.Issuer{{Name: "cluster", Issuer: clusterIssuer, Kubernetes: kube2, Audiences: []string{"authz"},
		Algorithms: []string{"RS256"}, Leeway: ptr(time.Duration(0)), MinRefreshInterval: 10 * time.Millisecond, Timeout: time.Second}}
	h2 := startWith(t, idp2, cfg2)
	h2.expect(h2.check(withToken(saToken(h2, "shop", "authz", true))), "error", 503)

	// An API server that is down: the same.
	idp3 := newIdP(t)
	api3, kube3 := startAPIServer(t, idp3)
	api3.Close()
	cfg3 := baseConfig(idp3)
	cfg3.Issuers = []config.Issuer{{Name: "cluster", Issuer: clusterIssuer, Kubernetes: kube3, Audiences: []string{"authz"},
		Algorithms: []string{"RS256"}, Leeway: ptr(time.Duration(0)), MinRefreshInterval: 10 * time.Millisecond, Timeout: time.Second}}
	h3 := startWith(t, idp3, cfg3)
	h3.expect(h3.check(withToken(saToken(h3, "shop", "authz", true))), "error", 503)
}

package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
)

// issuers[].kubernetes as the config wires it: the API server's keys with
// the cluster CA and the pod's token from their files, the kubernetes.io
// claims under plain names. (The service-account contracts — audiences,
// rules, a JWT that is no service-account token, an API server that
// answers garbage or nothing — are authz/jwt's kubernetes tests.)
func TestKubernetesIssuerFromTheConfig(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	api := testidp.NewAPIServer(idp, "pod-token")
	t.Cleanup(api.Close)
	dir := t.TempDir()
	ca, token := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	os.WriteFile(ca, api.CAPEM(), 0o600)
	os.WriteFile(token, []byte("pod-token\n"), 0o600)
	cfg := baseConfig(idp)
	cfg.Issuers = append(cfg.Issuers, config.Issuer{Name: "cluster", Issuer: testidp.ClusterIssuer,
		Kubernetes: &config.Kubernetes{APIServer: api.URL, CAFile: ca, TokenFile: token},
		Audiences:  []string{"authz"}, Algorithms: []string{"RS256"}, Leeway: ptr(time.Duration(0)), MinRefreshInterval: 10 * time.Millisecond})
	cfg.Policies["workloads"] = config.Policy{Validators: []string{"cluster"}, Headers: map[string]string{"k8s_namespace": "x-namespace"}}
	h := startWith(t, idp, cfg)
	h.waitServing()
	o := h.expect(h.check(withPolicy("workloads"), withToken(h.mint("rsa-1", idp.ServiceAccountClaims("shop", "authz", true)))), "allow", 200)
	if o.Headers["x-namespace"] != "shop" {
		t.Errorf("service-account claims: %v", o.Headers)
	}
	h.expect(h.check(withPolicy("workloads"), withToken(h.mint("rsa-1", h.validClaims()))), "forbidden", 403)
	if n := api.Unauthorized(); n != 0 {
		t.Errorf("%d requests reached the API server without the pod's token", n)
	}
}

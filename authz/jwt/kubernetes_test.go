package jwt_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// cluster builds the core over api's service-account keys, fetched with
// the cluster CA and the pod's token: the issuer is the cluster's, for
// audience "authz", and the policy "workloads" forwards the
// kubernetes.io claims under their plain names and admits namespace shop.
func cluster(t *testing.T, idp *testidp.IdP, api *testidp.APIServer) coretest.Core {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(api.CAPEM())
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("pod-token\n"), 0o600)
	return coretest.NewWith(t, idp, coretest.Setup{
		Keys: func(o *jwt.KeysOptions) {
			o.URL, o.Issuer, o.Timeout = api.JWKSURL(), testidp.ClusterIssuer, time.Second
			o.Client = jwt.KubernetesClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, token)
		},
		Issuer: func(o *jwt.IssuerOptions) {
			o.Issuer, o.Kubernetes, o.Audiences = testidp.ClusterIssuer, true, []string{"authz"}
		},
		Core: func(o *authz.Options) {
			p := coretest.Policy("workloads")
			p.Headers = []authz.ClaimHeader{{Claim: jwt.ClaimNamespace, Header: "x-namespace"}, {Claim: jwt.ClaimServiceAccount, Header: "x-service-account"},
				{Claim: jwt.ClaimPod, Header: "x-pod"}}
			p.Rules = coretest.Rules(t, `claims.k8s_namespace == "shop"`)
			o.Policies = append(o.Policies, p)
		},
	})
}

// Service-account tokens: keys from the API server with its CA and the
// pod's bearer token, the audience checked, the kubernetes.io claims
// readable under plain names in headers and rules; a JWT of this issuer
// that is no service-account token is invalid.
func TestKubernetesServiceAccountTokens(t *testing.T) {
	idp := testsupport.NewIdP(t)
	api := testidp.NewAPIServer(idp, "pod-token")
	t.Cleanup(api.Close)
	c := cluster(t, idp, api)
	<-c.Keys.Ready()
	sa := func(namespace, aud string, bound bool) authz.MapHeader {
		return coretest.Bearer(c.Mint(t, idp.ServiceAccountClaims(namespace, aud, bound)))
	}

	d := c.Decide("workloads", sa("shop", "authz", true))
	if d.Outcome != authz.Allow {
		t.Fatalf("a bound token of namespace shop: %v (%s)", d.Outcome, d.Reason)
	}
	for name, want := range map[string]string{"x-namespace": "shop", "x-service-account": "orders", "x-pod": "orders-7d9f"} {
		if got, _ := coretest.Header(d, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if d := c.Decide("workloads", sa("billing", "authz", false)); d.Outcome != authz.Forbidden {
		t.Errorf("namespace billing under a shop-only rule: %v", d.Outcome)
	}
	if d := c.Decide("workloads", sa("shop", "another-audience", true)); d.Outcome != authz.Invalid {
		t.Errorf("another audience: %v", d.Outcome)
	}
	plain := idp.Claims("alice", time.Hour, "")
	plain["iss"], plain["aud"] = testidp.ClusterIssuer, "authz"
	if d := c.Decide("workloads", coretest.Bearer(c.Mint(t, plain))); d.Outcome != authz.Invalid {
		t.Errorf("the cluster's JWT that is no service-account token: %v", d.Outcome)
	}
	if n := api.Unauthorized(); n != 0 {
		t.Errorf("%d requests reached the API server without the pod's token", n)
	}
}

// An API server that answers garbage, or none at all: a Check of its
// issuer's token is an error, not an allow and not invalid.
func TestKubernetesAPIServerFailuresAreErrors(t *testing.T) {
	for _, failure := range []string{"garbage", "down"} {
		t.Run(failure, func(t *testing.T) {
			idp := testsupport.NewIdP(t)
			api := testidp.NewAPIServer(idp, "pod-token")
			t.Cleanup(api.Close)
			if failure == "garbage" {
				api.AnswerGarbage(true)
			} else {
				api.Close()
			}
			c := cluster(t, idp, api)
			if d := c.Decide("workloads", coretest.Bearer(c.Mint(t, idp.ServiceAccountClaims("shop", "authz", true)))); d.Outcome != authz.Error {
				t.Errorf("%s: %v (%s), want error", failure, d.Outcome, d.Reason)
			}
		})
	}
}

// The pod's token is read again for every request: a rotated projected
// token is the one sent, and one the API server refuses is an error.
func TestKubernetesTokenFileIsReadPerRequest(t *testing.T) {
	idp := testsupport.NewIdP(t)
	api := testidp.NewAPIServer(idp, "rotated")
	t.Cleanup(api.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(api.CAPEM())
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("first\n"), 0o600)
	client := jwt.KubernetesClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, token)
	get := func() int {
		resp, err := client.Get(api.JWKSURL())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != 401 || api.Unauthorized() != 1 {
		t.Fatalf("the stale token: %d, %d refused", s, api.Unauthorized())
	}
	os.WriteFile(token, []byte("rotated\n"), 0o600)
	if s := get(); s != 200 {
		t.Errorf("the rotated token: %d", s)
	}
	os.Remove(token)
	if _, err := client.Get(api.JWKSURL()); err == nil {
		t.Error("no token file, yet a request went out")
	}
}

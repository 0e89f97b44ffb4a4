package charttest

import (
	"bytes"
	"os"
	"strings"
	"testing"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/authz-dev/authz/internal/testsupport"
)

// deploy/gateway-api is read as the Gateway API (v1.4) reads it: strictly,
// with its own Go types. The route's ExternalAuth filter asks authz's
// Service over gRPC on the chart's port, and the ReferenceGrant lets the
// route's namespace reach that Service.
func TestGatewayAPIExternalAuth(t *testing.T) {
	b, err := os.ReadFile(testsupport.RepoPath(t, "deploy/gateway-api/httproute.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(b, []byte("\n---\n"))
	if len(docs) != 2 {
		t.Fatalf("%d documents, want the HTTPRoute and the ReferenceGrant", len(docs))
	}
	var route gatewayv1.HTTPRoute
	if err := yaml.UnmarshalStrict(docs[0], &route); err != nil {
		t.Fatalf("HTTPRoute: %v", err)
	}
	var grant gatewayv1beta1.ReferenceGrant
	if err := yaml.UnmarshalStrict(docs[1], &grant); err != nil {
		t.Fatalf("ReferenceGrant: %v", err)
	}
	var auth *gatewayv1.HTTPExternalAuthFilter
	for _, r := range route.Spec.Rules {
		for _, f := range r.Filters {
			if f.Type == gatewayv1.HTTPRouteFilterExternalAuth {
				auth = f.ExternalAuth
			}
		}
	}
	if auth == nil {
		t.Fatal("no ExternalAuth filter")
	}
	ref := auth.BackendRef
	if auth.ExternalAuthProtocol != gatewayv1.HTTPRouteExternalAuthGRPCProtocol || ref.Kind == nil || *ref.Kind != "Service" || ref.Name != "authz" ||
		ref.Namespace == nil || *ref.Namespace != "authz-system" || ref.Port == nil || *ref.Port != 9191 {
		t.Errorf("ExternalAuth %+v: want gRPC to Service authz-system/authz:9191, the chart's", auth)
	}
	if auth.GRPCAuthConfig != nil && len(auth.GRPCAuthConfig.AllowedRequestHeaders) > 0 {
		t.Error("allowedHeaders would keep Authorization (and DPoP) from authz unless listed")
	}
	// The chart's Service is that one.
	out, err := helm(t, "template", "authz", testsupport.RepoPath(t, "deploy/helm/authz"), "-n", "authz-system", "-f", testsupport.RepoPath(t, "testdata/helm/minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := decodeManifests(t, out)
	if r.service.Name != "authz" || r.service.Namespace != "authz-system" || !strings.Contains(out, "port: 9191") {
		t.Errorf("the chart's Service is %s/%s", r.service.Namespace, r.service.Name)
	}
	g := grant.Spec
	if grant.Namespace != string(*ref.Namespace) || len(g.From) != 1 || string(g.From[0].Namespace) != route.Namespace || string(g.From[0].Kind) != "HTTPRoute" ||
		len(g.To) != 1 || string(g.To[0].Kind) != "Service" || g.To[0].Name == nil || string(*g.To[0].Name) != "authz" {
		t.Errorf("ReferenceGrant %+v does not let %s's HTTPRoutes reach authz", grant, route.Namespace)
	}
}

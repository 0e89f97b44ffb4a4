package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authz-dev/authz/envoy"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// istioExampleConfig is the authz config deploy/envoy/istio.yaml ships, pointed
// at the test IdP.
func istioExampleConfig(t *testing.T, idp *testidp.IdP) *config.Config {
	t.Helper()
	b := testsupport.ReadRepoFile(t, "deploy/envoy/istio.yaml")
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind != "ConfigMap" {
			continue
		}
		cfg, err := config.Parse([]byte(doc.Data["config.yaml"]))
		if err != nil {
			t.Fatal(err)
		}
		cfg.GRPC.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Issuers[0].Issuer, cfg.Issuers[0].Discovery, cfg.Issuers[0].JWKSURL = idp.Issuer(), false, idp.JWKSURL()
		cfg.Log.Level = "debug"
		return cfg
	}
	t.Fatal("istio.yaml has no ConfigMap")
	return nil
}

const (
	ordersSA  = "spiffe://cluster.local/ns/shop/sa/orders"
	billingSA = "spiffe://cluster.local/ns/shop/sa/billing"
	storeSA   = "spiffe://cluster.local/ns/shop/sa/storefront"
	webSA     = "spiffe://cluster.local/ns/web/sa/frontend"
)

// istioCheck is what Istio's sidecar sends: no context extensions, the
// peers' SPIFFE IDs, the host with its port, the path with its query.
type istioCheck struct {
	src, dst, method, host, path, token string
	headers                             map[string]string
}

// decision is what the test reads back: outcome and status as Envoy would,
// and route, policy and rule as `authz check` is told them.
type decision struct {
	outcome             string
	status              int
	route, policy, rule string
	upstream            map[string]string
	removed             []string
}

func (h *harness) istio(c istioCheck) decision {
	h.t.Helper()
	hdr := map[string]string{
		":authority": c.host, ":method": c.method, ":path": c.path, ":scheme": "http",
		"x-forwarded-proto": "https", "x-request-id": "6a2f", "x-forwarded-client-cert": "By=" + c.dst + ";URI=" + c.src,
	}
	if c.token != "" {
		hdr["authorization"] = "Bearer " + c.token
	}
	for k, v := range c.headers {
		hdr[k] = v
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Principal: c.src},
		Destination: &authv3.AttributeContext_Peer{Principal: c.dst},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: c.method, Host: c.host, Path: c.path, Scheme: "http", Protocol: "HTTP/1.1", Headers: hdr,
		}},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, envoy.ExplainKey, "1")
	var md metadata.MD
	resp, err := h.client.Check(ctx, req, grpc.Header(&md))
	if err != nil {
		h.t.Fatalf("Check: %v", err)
	}
	o := read(resp)
	get := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return decision{outcome: o.Outcome, status: o.Status, route: get(envoy.RouteKey), policy: get(envoy.PolicyNameKey), rule: get(envoy.RuleKey), upstream: o.Headers, removed: o.Removed}
}

func TestIstioMeshExample(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startWith(t, idp, istioExampleConfig(t, idp))
	h.waitServing()
	mint := func(sub, scope string, extra map[string]any, aud ...string) string {
		c := idp.Claims(sub, time.Hour, scope, aud...)
		for k, v := range extra {
			c[k] = v
		}
		return h.mint("rsa-1", c)
	}
	reader := mint("rita", "orders:read", nil, "orders-api")
	buyer := mint("bea", "orders:read orders:write", map[string]any{"realm_access": map[string]any{"roles": []any{"buyer"}}}, "orders-api")
	admin := mint("ada", "orders:read orders:write", map[string]any{"realm_access": map[string]any{"roles": []any{"admin"}}}, "orders-api")
	billing := mint("bo", "billing:read", map[string]any{"tenant": "t1"}, "billing-api")
	const ordersHost, billingHost, storeHost = "orders.shop.svc.cluster.local:8080", "billing.shop.svc.cluster.local:8080", "storefront.shop.svc.cluster.local:8080"

	cases := []struct {
		name    string
		check   istioCheck
		outcome string
		status  int
		route   string
		policy  string
		rule    string
	}{
		{"orders read", istioCheck{webSA, ordersSA, "GET", ordersHost, "/orders/1?expand=items", reader, nil}, "allow", 200, "orders", "orders", ""},
		{"orders without a token", istioCheck{webSA, ordersSA, "GET", ordersHost, "/orders/1", "", nil}, "missing", 401, "orders", "orders", ""},
		{"orders admin without the role", istioCheck{webSA, ordersSA, "POST", ordersHost, "/admin/users", buyer, nil}, "forbidden", 403, "orders-admin", "orders-admin", "admin-role"},
		{"orders admin with the role", istioCheck{webSA, ordersSA, "POST", ordersHost, "/admin/users", admin, nil}, "allow", 200, "orders-admin", "orders-admin", ""},
		{"a dot-dot path is routed as served", istioCheck{webSA, ordersSA, "GET", ordersHost, "/catalog/../admin/users", reader, nil}, "forbidden", 403, "orders-admin", "orders-admin", ""},
		{"an encoded slash is refused", istioCheck{webSA, ordersSA, "GET", ordersHost, "/orders%2F..%2Fadmin/users", reader, nil}, "forbidden", 403, "", "", ""},
		{"billing from the shop, own tenant", istioCheck{ordersSA, billingSA, "GET", billingHost, "/invoices", billing, map[string]string{"x-tenant": "t1"}}, "allow", 200, "billing-from-shop", "billing", ""},
		{"billing, another tenant", istioCheck{ordersSA, billingSA, "GET", billingHost, "/invoices", billing, map[string]string{"x-tenant": "t2"}}, "forbidden", 403, "billing-from-shop", "billing", "tenant-matches"},
		{"billing, a write without billing:write", istioCheck{ordersSA, billingSA, "POST", billingHost, "/invoices", billing, map[string]string{"x-tenant": "t1"}}, "forbidden", 403, "billing-from-shop", "billing", "writes-need-billing-write"},
		{"billing, a token for orders", istioCheck{ordersSA, billingSA, "GET", billingHost, "/invoices", reader, map[string]string{"x-tenant": "t1"}}, "forbidden", 403, "billing-from-shop", "billing", ""},
		{"billing from outside the shop", istioCheck{webSA, billingSA, "GET", billingHost, "/invoices", billing, map[string]string{"x-tenant": "t1"}}, "forbidden", 403, "", "", ""},
		{"public catalog without a token", istioCheck{webSA, storeSA, "GET", storeHost, "/catalog/shoes?page=2", "", map[string]string{"x-user-id": "mallory"}}, "allow", 200, "storefront-catalog", "public", ""},
		{"the catalog by its public name", istioCheck{"", storeSA, "HEAD", "www.shop.example.com", "/catalog/", "", nil}, "allow", 200, "storefront-catalog", "public", ""},
		{"a write to the catalog has no route", istioCheck{webSA, storeSA, "POST", storeHost, "/catalog/shoes", reader, nil}, "forbidden", 403, "", "", ""},
		{"an unknown workload has no route", istioCheck{webSA, "spiffe://cluster.local/ns/shop/sa/new", "GET", "new.shop:8080", "/", reader, nil}, "forbidden", 403, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := h.istio(c.check)
			if d.outcome != c.outcome || d.status != c.status || d.route != c.route || d.policy != c.policy || d.rule != c.rule {
				t.Errorf("got %s %d route %q policy %q rule %q; want %s %d route %q policy %q rule %q",
					d.outcome, d.status, d.route, d.policy, d.rule, c.outcome, c.status, c.route, c.policy, c.rule)
			}
			if d.outcome == "allow" && c.check.token == "" && d.upstream["x-user-id"] != "" {
				t.Errorf("an anonymous request forwarded x-user-id %q", d.upstream["x-user-id"])
			}
		})
	}
	if logs := h.logs.String(); !bytes.Contains([]byte(logs), []byte(`"route":"orders-admin"`)) || !bytes.Contains([]byte(logs), []byte(`"rule":"admin-role"`)) || !bytes.Contains([]byte(logs), []byte(`"reason":"no route"`)) {
		t.Errorf("the decision log lacks route, rule or the no-route reason:\n%s", logs)
	}
}

// The HTTP door routes by what the proxy forwards (Traefik's X-Forwarded-*).
func TestHTTPDoorRoutes(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := istioExampleConfig(t, idp)
	cfg.HTTP.Proxy = "traefik"
	h := startWith(t, idp, cfg)
	h.waitServing()
	if resp := h.forward("GET", "/check", map[string]string{"X-Forwarded-Host": "www.shop.example.com", "X-Forwarded-Uri": "/catalog/shoes", "X-Forwarded-Method": "GET"}); resp.StatusCode != 200 {
		t.Errorf("public catalog through the HTTP door: %d", resp.StatusCode)
	}
	if resp := h.forward("GET", "/check", map[string]string{"X-Forwarded-Host": "www.shop.example.com", "X-Forwarded-Uri": "/admin/", "X-Forwarded-Method": "GET"}); resp.StatusCode != 403 {
		t.Errorf("no route through the HTTP door: %d", resp.StatusCode)
	}
	// Decisions are counted by the route that chose the policy; a request
	// no route matched has none.
	text := h.metricsText()
	for _, want := range []string{`authz_decisions_total{outcome="allow",policy="public",route="storefront-catalog"} 1`, `authz_decisions_total{outcome="forbidden",policy="unknown",route=""} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("no %s in:\n%s", want, grepLines(text, "authz_decisions_total"))
		}
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

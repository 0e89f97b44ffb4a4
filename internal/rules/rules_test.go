package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
)

func input(path string, headers map[string]string, claims map[string]any) *authz.RuleInput {
	h := authz.MapHeader{}
	for k, v := range headers {
		h[k] = []string{v}
	}
	return &authz.RuleInput{
		Request: &authz.Request{Method: "POST", Host: "orders.shop:8080", Path: path, Header: h,
			SourcePrincipal: "spiffe://cluster.local/ns/web/sa/frontend", DestinationPrincipal: "spiffe://cluster.local/ns/shop/sa/orders"},
		Claims: claims, Validator: "corp",
	}
}

func TestRules(t *testing.T) {
	claims := map[string]any{"tenant": "t1", "scope": "orders:read orders:write", "realm_access": map[string]any{"roles": []any{"admin", "buyer"}}}
	cases := []struct {
		name, expr string
		in         *authz.RuleInput
		holds      bool
		errs       bool
	}{
		{"tenant header equals the claim", `request.headers["x-tenant"] == claims.tenant`, input("/o", map[string]string{"x-tenant": "t1"}, claims), true, false},
		{"another tenant", `request.headers["x-tenant"] == claims.tenant`, input("/o", map[string]string{"x-tenant": "t2"}, claims), false, false},
		{"admin role for /admin/", `!request.path.startsWith("/admin/") || "admin" in claims.realm_access.roles`, input("/public/../admin/x", nil, claims), true, false},
		{"no admin role", `!request.path.startsWith("/admin/") || "admin" in claims.realm_access.roles`, input("/admin/x", nil, map[string]any{"realm_access": map[string]any{"roles": []any{"buyer"}}}), false, false},
		{"writes need orders:write", `request.method == "GET" || "orders:write" in token.scopes`, input("/o", nil, claims), true, false},
		{"scp list counts", `"orders:write" in token.scopes`, input("/o", nil, map[string]any{"scp": []any{"orders:write"}}), true, false},
		{"principals", `source.principal.startsWith("spiffe://cluster.local/ns/web/") && destination.principal.endsWith("/sa/orders")`, input("/o", nil, claims), true, false},
		{"query", `request.query["dry_run"] == "1"`, input("/o?dry_run=1", nil, claims), true, false},
		{"host keeps the port", `request.host == "orders.shop:8080"`, input("/o", nil, claims), true, false},
		{"validator", `token.validator == "corp"`, input("/o", nil, claims), true, false},
		{"a missing key is an error", `claims.department == "x"`, input("/o", nil, claims), false, true},
		{"no token: empty claims", `!("tenant" in claims)`, input("/o", nil, nil), true, false},
		{"dyn that is not a bool is an error", `claims.tenant`, input("/o", nil, claims), false, true},
	}
	for _, c := range cases {
		s, err := Compile([]Rule{{Name: "r", Expr: c.expr}})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		failed, err := s.Eval(context.Background(), c.in)
		if holds := failed == ""; holds != c.holds || (err != nil) != c.errs {
			t.Errorf("%s: failed %q err %v", c.name, failed, err)
		}
	}
}

func TestAllMustHoldAndTheFirstFailureIsNamed(t *testing.T) {
	s, err := Compile([]Rule{{Name: "a", Expr: "true"}, {Name: "b", Expr: "false"}, {Name: "c", Expr: "1/0 == 1"}})
	if err != nil {
		t.Fatal(err)
	}
	if failed, _ := s.Eval(context.Background(), input("/", nil, nil)); failed != "b" {
		t.Errorf("failed %q, want b", failed)
	}
}

func TestCompileErrors(t *testing.T) {
	for expr, want := range map[string]string{
		`request.method ==`: "Syntax error",
		`nosuchvar == 1`:    "undeclared reference",
		`1 + "a" == 2`:      "no matching overload",
		`"a"`:               "want bool",
		`[1,2,3,4,5,6,7,8].all(a, [1,2,3,4,5,6,7,8].all(b, request.headers.all(k, request.headers.all(j, claims.x.all(y, y == k + j)))))`: "over the limit",
	} {
		_, err := Compile([]Rule{{Name: "r1", Expr: expr}})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "rule r1") {
			t.Errorf("%s: %v, want %q", expr, err, want)
		}
	}
}

func TestAnEvaluationPastTheTimeLimitFails(t *testing.T) {
	items := func(n int) map[string]any {
		l := make([]any, n)
		for i := range l {
			l[i] = "x"
		}
		return map[string]any{"items": l}
	}
	s, err := Compile([]Rule{{Name: "r", Expr: `claims.items.all(a, a == "x")`}})
	if err != nil {
		t.Fatal(err)
	}
	// That the rule holds is what is checked here, not how fast it runs:
	// a loaded machine (and the race detector) may take longer than the
	// 10 ms a Check allows, so the deadline is out of the way.
	s.timeout = time.Minute
	if failed, err := s.Eval(context.Background(), input("/", nil, items(1000))); failed != "" || err != nil {
		t.Fatalf("1,000 items: %q %v", failed, err)
	}
	// Sizes far past what the load-time estimate assumed (a request's
	// headers are the client's): evaluation stops at the time limit,
	// shortened here so the test need not build a huge request.
	s, err = Compile([]Rule{{Name: "r", Expr: `request.headers.all(k, k.startsWith("x-"))`}})
	if err != nil {
		t.Fatal(err)
	}
	s.timeout = 200 * time.Microsecond
	hdr := map[string]string{}
	for i := range 20000 {
		hdr[fmt.Sprintf("x-h%d", i)] = "v"
	}
	// Run to its end the rule holds; a deadline error is proof that the
	// limit stopped it, however slow the machine (no wall clock compared).
	failed, err := s.Eval(context.Background(), input("/", hdr, nil))
	if failed != "r" || err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("20,000 headers: %q %v, want the time limit to stop it", failed, err)
	}
}

// countingHeader is a Header whose Values calls are counted: the index of
// a request's headers must be built in one pass, not a Values scan per name.
type countingHeader struct {
	authz.MapHeader
	values int
}

func (h *countingHeader) Values(name string) []string {
	h.values++
	return h.MapHeader.Values(name)
}

func TestHeadersAreIndexedInOnePass(t *testing.T) {
	h := &countingHeader{MapHeader: authz.MapHeader{}}
	for i := range 16000 {
		h.MapHeader[fmt.Sprintf("x-h%d", i)] = []string{"a", "b"}
	}
	s, err := Compile([]Rule{{Name: "r", Expr: `size(request.headers) == 16000 && request.headers["x-h7"] == "a,b"`}})
	if err != nil {
		t.Fatal(err)
	}
	in := input("/", nil, nil)
	in.Request.Header = h
	if failed, err := s.Eval(context.Background(), in); failed != "" || err != nil {
		t.Fatalf("%q %v", failed, err)
	}
	if h.values > 1 {
		t.Errorf("%d Values calls to index 16,000 headers, want one pass", h.values)
	}
}

func TestReadsToken(t *testing.T) {
	for expr, want := range map[string]bool{
		`claims.sub == "alice"`:               true,
		`has(claims.tenant)`:                  true,
		`token.jti != ""`:                     true,
		`request.path.startsWith("/health")`:  false,
		`request.method == "GET" && true`:     false,
		`["a"].exists(x, x in claims.groups)`: true,
		`not compiling (`:                     false,
	} {
		if got := ReadsToken(expr); got != want {
			t.Errorf("ReadsToken(%s) = %v", expr, got)
		}
	}
}

func TestASetKnowsWhetherItReadsTheRequest(t *testing.T) {
	for exprs, want := range map[string]bool{
		`claims.sub == "alice"`:                        false,
		`has(claims.tenant) && token.jti != ""`:        false,
		`request.method == "GET"`:                      true,
		`source.principal.startsWith("spiffe://x/")`:   true,
		`claims.tenant == request.headers["x-tenant"]`: true,
	} {
		s, err := Compile([]Rule{{Name: "r", Expr: exprs}})
		if err != nil {
			t.Fatalf("%s: %v", exprs, err)
		}
		if got := s.ReadsRequest(); got != want {
			t.Errorf("%s: ReadsRequest %v", exprs, got)
		}
	}
}

package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/testidp"
)

func TestTemplateErrors(t *testing.T) {
	for iss, want := range map[string]string{
		"https://login.example.com/{tenant}{tenant}/v2.0": "once",
		"https://login.example.com/t-{tenant}/v2.0":       "whole path segment",
		"https://{tenant}.example.com/v2.0":               "whole path segment",
		"https://login.example.com/{tenant}/v2.0":         "list its tenants",
	} {
		if _, err := parseTemplate(iss, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", iss, err, want)
		}
	}
	if _, err := parseTemplate("https://login.example.com/{tenant}/v2.0", []string{"a/b"}); err == nil {
		t.Error("a tenant with a slash was accepted")
	}
}

// One IdP, many tenants: a token whose iss names an admitted tenant is
// judged with the template's keys and carries the tenant as iss_tenant;
// a tenant not on the list, a tid that disagrees with the iss, or a
// look-alike iss is invalid; an exact issuer of the same host wins.
func TestTemplatedIssuer(t *testing.T) {
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	body, _ := json.Marshal(idp.KeySet())
	file := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(file, body, 0o600)
	keys, err := NewKeys(KeysOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := NewIssuer(IssuerOptions{Name: "entra", Issuer: "https://login.example.com/{tenant}/v2.0", Tenants: []string{"contoso", "fabrikam"}, Algorithms: Algorithms, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	exact, _ := NewIssuer(IssuerOptions{Name: "own", Issuer: "https://login.example.com/own/v2.0", Algorithms: Algorithms, Keys: keys})
	set, err := NewSet(tmpl, exact)
	if err != nil {
		t.Fatal(err)
	}
	token := func(iss string, extra map[string]any) string {
		c := idp.Claims("alice", time.Hour, "orders:read")
		c["iss"] = iss
		for k, v := range extra {
			c[k] = v
		}
		tok, err := idp.Mint("ec-1", c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctx := context.Background()
	res, err := set.Validate(ctx, token("https://login.example.com/fabrikam/v2.0", map[string]any{"tid": "fabrikam"}))
	if err != nil || res.Validator != "entra" || res.Claims[TenantClaim] != "fabrikam" {
		t.Fatalf("an admitted tenant: %+v, %v", res, err)
	}
	if res, err := set.Validate(ctx, token("https://login.example.com/own/v2.0", nil)); err != nil || res.Validator != "own" {
		t.Errorf("the exact issuer: %+v, %v", res, err)
	}
	for name, tok := range map[string]string{
		"a tenant not on the list": token("https://login.example.com/evil/v2.0", nil),
		"a tid for another tenant": token("https://login.example.com/contoso/v2.0", map[string]any{"tid": "fabrikam"}),
		"a look-alike host":        token("https://login.example.com.evil/contoso/v2.0", nil),
		"another path":             token("https://login.example.com/contoso/v1.0", nil),
		"the template itself":      token("https://login.example.com/{tenant}/v2.0", nil),
	} {
		if _, err := set.Validate(ctx, tok); !errors.Is(err, authz.ErrInvalidToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	anyTenant, _ := NewIssuer(IssuerOptions{Name: "any", Issuer: "https://any.example.com/{tenant}/", Tenants: []string{AnyTenant}, Algorithms: Algorithms, Keys: keys})
	set, _ = NewSet(anyTenant)
	if res, err := set.Validate(ctx, token("https://any.example.com/whoever/", nil)); err != nil || res.Claims[TenantClaim] != "whoever" {
		t.Errorf("any tenant: %+v, %v", res, err)
	}
}

// BenchmarkIssuerRouting: finding a token's issuer by iss is as fast for
// the 500th of 500 issuers, and the 10,000th tenant of a template, as for
// the first.
func BenchmarkIssuerRouting(b *testing.B) {
	keys := &Keys{}
	var issuers []*Issuer
	for i := range 500 {
		is, _ := NewIssuer(IssuerOptions{Name: fmt.Sprint("idp-", i), Issuer: fmt.Sprintf("https://idp-%d.example.com/", i), Algorithms: []jose.SignatureAlgorithm{jose.ES256}, Keys: keys})
		issuers = append(issuers, is)
	}
	tenants := make([]string, 10_000)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("tenant-%05d", i)
	}
	tmpl, err := NewIssuer(IssuerOptions{Name: "entra", Issuer: "https://login.example.com/{tenant}/v2.0", Tenants: tenants, Algorithms: []jose.SignatureAlgorithm{jose.ES256}, Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	set, err := NewSet(append(issuers, tmpl)...)
	if err != nil {
		b.Fatal(err)
	}
	route := func(iss string) *Issuer {
		if is, ok := set.byIssuer[iss]; ok {
			return is
		}
		is, _, _ := set.routeTemplate(iss)
		return is
	}
	for _, c := range []struct{ name, iss string }{
		{"issuer-1", "https://idp-0.example.com/"},
		{"issuer-500", "https://idp-499.example.com/"},
		{"tenant-1", "https://login.example.com/tenant-00000/v2.0"},
		{"tenant-10000", "https://login.example.com/tenant-09999/v2.0"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if route(c.iss) == nil {
					b.Fatal("not routed")
				}
			}
		})
	}
}

package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/keyfile"
)

func TestCheckCommand(t *testing.T) {
	idp := newIdP(t)
	addr := startServer(t, idp).GRPCAddr().String()
	mint := func(c map[string]any) string {
		tok, err := idp.Mint("rsa-1", c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := mint(idp.Claims("alice", time.Hour, "orders:read orders:write", "orders-api"))
	cases := []struct {
		name    string
		args    []string
		code    int
		outcome string
		status  int
	}{
		{"allow", []string{"-token", tok, "-header", "x-user-id=mallory"}, 0, "allow", 200},
		{"missing", nil, 1, "missing", 401},
		{"invalid", []string{"-token", tok + "x"}, 1, "invalid", 401},
		{"forbidden", []string{"-token", mint(idp.Claims("bob", time.Hour, "orders:read", "orders-api")), "-policy", "orders-write"}, 1, "forbidden", 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"check", "-addr", addr, "-json"}, c.args...), &out, &errOut)
			if code != c.code {
				t.Fatalf("exit %d, want %d (stderr %s)", code, c.code, errOut.String())
			}
			var res checkResult
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			if res.Outcome != c.outcome || res.Status != c.status {
				t.Errorf("got %s %d, want %s %d", res.Outcome, res.Status, c.outcome, c.status)
			}
			if c.outcome == "allow" && res.Headers["x-user-id"] != "alice" {
				t.Errorf("x-user-id = %q", res.Headers["x-user-id"])
			}
			if c.outcome == "allow" && res.Metadata["sub"] != "alice" {
				t.Errorf("dynamic_metadata %v", res.Metadata)
			}
		})
	}
	t.Run("could not ask", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if code := run([]string{"check", "-addr", "127.0.0.1:1", "-timeout", "1s"}, &out, &errOut); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	keys := filepath.Join(dir, "jwks.json")
	os.WriteFile(keys, []byte(`{"keys":[]}`), 0o600)
	os.WriteFile(good, []byte("issuers:\n  - { name: a, issuer: https://a/, jwks_file: "+keys+" }\n"), 0o600)
	os.WriteFile(bad, []byte("issuers:\n  - { name: a, issuer: https://a/, jwks_file: /x, audience: [x] }\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-config", good}, &out, &errOut); code != 0 {
		t.Errorf("good config: exit %d: %s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "warning") {
		t.Errorf("good config warned: %s", errOut.String())
	}
	risky := filepath.Join(dir, "risky.yaml")
	os.WriteFile(risky, []byte("issuers:\n  - { name: a, issuer: https://a/, jwks_file: "+keys+" }\npolicies:\n  default:\n    error_mode: rpc_error\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"validate", "-config", risky}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "warning: line 5: policies.default.error_mode") || !strings.Contains(errOut.String(), "failure_mode_allow") {
		t.Errorf("rpc_error: exit %d, stderr %q", code, errOut.String())
	}
	both := filepath.Join(dir, "both.yaml")
	os.WriteFile(both, []byte("issuers:\n  - { name: a, issuer: https://a/, jwks_file: "+keys+" }\nhttp:\n  proxy: envoy\n  allow_status: 204\n  client_cert_header: x-ssl-client-cert\n  trust_xfcc: true\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"validate", "-config", both}, &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), "warning: line 7: http.trust_xfcc") || !strings.Contains(errOut.String(), "warning: line 5: http.allow_status") {
		t.Errorf("trust_xfcc with client_cert_header, 204 behind Envoy: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"validate", "-config", bad}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), `line 2: unknown key "audience"`) {
		t.Errorf("bad config: exit %d: %s", code, errOut.String())
	}
}

func TestPurgeCommand(t *testing.T) {
	idp := newIdP(t)
	s := startServer(t, idp)
	var out, errOut bytes.Buffer
	if code := run([]string{"purge", "-addr", s.AdminAddr().String(), "-token", "some-token"}, &out, &errOut); code != 0 ||
		out.String() != "purged on this replica only (it held no result for the token): no shared cache is configured\n" {
		t.Errorf("purge: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	tok, _ := idp.Mint("rsa-1", idp.Claims("alice", time.Hour, "orders:read", "orders-api"))
	run([]string{"check", "-addr", s.GRPCAddr().String(), "-token", tok}, io.Discard, io.Discard)
	time.Sleep(20 * time.Millisecond) // the cache admits the result
	out.Reset()
	if code := run([]string{"purge", "-addr", s.AdminAddr().String(), "-token", tok}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "it held a result for the token") {
		t.Errorf("purge of a cached token: exit %d, %q", code, out.String())
	}
	if code := run([]string{"purge", "-addr", s.AdminAddr().String()}, &out, &errOut); code != 2 {
		t.Errorf("exit %d without a token, want 2", code)
	}
	if code := run([]string{"purge", "-addr", "127.0.0.1:1", "-token", "t"}, &out, &errOut); code != 2 {
		t.Errorf("exit %d when the admin listener is unreachable, want 2", code)
	}
}

// routesYAML adds routes to commandConfig's policies.
const routesYAML = `  public:
    token: none
  tenant:
    rules:
      - { name: tenant-matches, expr: 'request.headers["x-tenant"] == claims.tenant' }
routes:
  - name: catalog
    match: { path_prefix: /catalog/, methods: [GET] }
    policy: public
  - name: orders-writes
    match:
      destination_principals: ["spiffe://cluster.local/ns/shop/sa/orders"]
      source_principals: ["spiffe://cluster.local/ns/web/*"]
      methods: [POST]
    policy: orders-write
  - name: tenants
    match: { hosts: ["*.tenants.example"], headers: { x-tenant: "*" } }
    policy: tenant
routes_unmatched: deny
`

func TestCheckShowsRoutePolicyAndRule(t *testing.T) {
	idp := newIdP(t)
	addr := startServer(t, idp, routesYAML).GRPCAddr().String()
	c := idp.Claims("alice", time.Hour, "orders:read", "orders-api")
	c["tenant"] = "t1"
	tok, _ := idp.Mint("rsa-1", c)
	cases := []struct {
		name                         string
		args                         []string
		outcome, route, policy, rule string
	}{
		{"public", []string{"-path", "/catalog/x"}, "allow", "catalog", "public", ""},
		{"principals", []string{"-method", "POST", "-path", "/orders", "-token", tok, "-source-principal", "spiffe://cluster.local/ns/web/sa/app", "-destination-principal", "spiffe://cluster.local/ns/shop/sa/orders"}, "forbidden", "orders-writes", "orders-write", ""},
		{"rule", []string{"-host", "a.tenants.example", "-token", tok, "-header", "x-tenant=t2"}, "forbidden", "tenants", "tenant", "tenant-matches"},
		{"no route", []string{"-path", "/elsewhere", "-token", tok}, "forbidden", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			run(append([]string{"check", "-addr", addr, "-json"}, c.args...), &out, &errOut)
			var res checkResult
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("output %q (%s): %v", out.String(), errOut.String(), err)
			}
			if res.Outcome != c.outcome || res.Route != c.route || res.Policy != c.policy || res.Rule != c.rule {
				t.Errorf("got %+v", res)
			}
			var body struct{ Error string }
			if c.outcome != "allow" && (json.Unmarshal(res.Body, &body) != nil || body.Error == "") {
				t.Errorf("body is not the denial's JSON: %s", res.Body)
			}
		})
	}
	var out bytes.Buffer
	run([]string{"check", "-addr", addr, "-host", "a.tenants.example", "-token", tok, "-header", "x-tenant=t2"}, &out, io.Discard)
	var named bytes.Buffer
	run([]string{"check", "-addr", addr, "-token", tok, "-policy", "orders-write"}, &named, io.Discard)
	if !strings.Contains(named.String(), "policy:  orders-write\nroute:   (none)\n") {
		t.Errorf("a policy the proxy named, text output:\n%s", named.String())
	}
	if !strings.Contains(out.String(), "policy:  tenant\nroute:   tenants\n") || !strings.Contains(out.String(), "rule:    tenant-matches") {
		t.Errorf("text output:\n%s", out.String())
	}
}

func TestValidateExplain(t *testing.T) {
	idp := newIdP(t)
	path := filepath.Join(t.TempDir(), "authz.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(commandConfig, idp.Issuer(), idp.JWKSURL(), ":9191", ":8181")+routesYAML), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-config", path, "-explain"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		"1  catalog", "path_prefix=/catalog/ methods=GET", "public", "none",
		"2  orders-writes", "source=spiffe://cluster.local/ns/web/*", "destination=spiffe://cluster.local/ns/shop/sa/orders",
		"3  tenants", "hosts=*.tenants.example header x-tenant=*", "tenant-matches",
		"no route matched: deny",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the route table lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "catalog") > strings.Index(text, "orders-writes") {
		t.Error("routes are not listed in the order they are tried")
	}
	// The unmatched denial is answered with the configured status.
	os.WriteFile(path, []byte(fmt.Sprintf(commandConfig, idp.Issuer(), idp.JWKSURL(), ":9191", ":8181")+routesYAML+"outcomes: { forbidden: { status: 404 } }\n"), 0o600)
	out.Reset()
	if code := run([]string{"validate", "-config", path, "-explain"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "no route matched: deny (404,") {
		t.Errorf("with forbidden.status 404:\n%s", out.String())
	}
}

// A rule written on default holds on every policy that extends it: the
// explained policies say so per rule, validate warns when a public policy
// inherits rules, and extends: none takes nothing.
func TestValidateExplainShowsWhereRulesComeFrom(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "jwks.json")
	os.WriteFile(keys, []byte(`{"keys":[]}`), 0o600)
	path := filepath.Join(dir, "authz.yaml")
	os.WriteFile(path, []byte(`issuers:
  - { name: a, issuer: https://a/, jwks_file: `+keys+` }
policies:
  default:
    rules:
      - { name: internal-only, expr: '"x-internal" in request.headers' }
  orders:
    require_scopes: [orders:write]
  tenant:
    extends: orders
    rules:
      - { name: tenant-matches, expr: 'request.headers["x-tenant"] == claims.tenant' }
  tenant-admin:
    extends: tenant
  public:
    token: none
  health:
    extends: none
    token: none
`), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-config", path, "-explain"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			lines[f[0]] = strings.Join(f[1:], " ")
		}
	}
	for policy, want := range map[string]string{
		"default":      "- required - internal-only -",
		"orders":       "default required orders:write internal-only (from default) -",
		"tenant":       "orders required orders:write tenant-matches -",
		"tenant-admin": "tenant required orders:write tenant-matches (from tenant) -",
		"public":       "default none - internal-only (from default) -",
		"health":       "none none - - -",
	} {
		if lines[policy] != want {
			t.Errorf("policy %s: %q, want %q\n%s", policy, lines[policy], want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "policies.public.token") || !strings.Contains(errOut.String(), "internal-only (from default)") ||
		strings.Contains(errOut.String(), "policies.health") {
		t.Errorf("warnings: %s", errOut.String())
	}
	for yaml, want := range map[string]string{
		"policies:\n  a: { extends: b }\n  b: { extends: a }\n": "a cycle",
		"policies:\n  a: { extends: nope }\n":                   `unknown policy "nope"`,
		"policies:\n  default: { extends: a }\n  a: {}\n":       "the default policy extends nothing",
	} {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte("issuers:\n  - { name: a, issuer: https://a/, jwks_file: "+keys+" }\n"+yaml), 0o600)
		errOut.Reset()
		if code := run([]string{"validate", "-config", bad}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), want) {
			t.Errorf("%q: exit %d, %s", yaml, code, errOut.String())
		}
	}
}

func TestHelpVersionAndStrayArguments(t *testing.T) {
	for _, cmd := range []string{"serve", "validate", "check", "purge", "demo"} {
		var out, errOut bytes.Buffer
		if code := run([]string{cmd, "-h"}, &out, &errOut); code != 0 || !strings.HasPrefix(errOut.String(), "authz "+cmd+": ") {
			t.Errorf("%s -h: exit %d, %q", cmd, code, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "-addr", "127.0.0.1:1", "eyJhbGciOi.token"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unexpected argument "eyJhbGciOi.token"`) {
		t.Errorf("a token without -token: exit %d, %q", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "authz ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
}

// Every shipped example is a valid config (secrets are mounted where it
// runs, so they are not read here).
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) < 6 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		var out, errOut bytes.Buffer
		if code := run([]string{"validate", "-offline", "-explain", "-config", f}, &out, &errOut); code != 0 {
			t.Errorf("%s: exit %d: %s", f, code, errOut.String())
		}
		if filepath.Base(f) == "phantom-token.yaml" && !strings.Contains(out.String(), "minted for orders-api in authorization") {
			t.Errorf("-explain does not show the upstream token:\n%s", out.String())
		}
	}
	// Offline is only about secrets: without it, a missing secret file is named.
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-config", filepath.Join("..", "..", "examples", "introspection.yaml")}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "read secret file") ||
		!strings.Contains(errOut.String(), "run: authz validate -offline -config ") {
		t.Errorf("without -offline: exit %d: %s", code, errOut.String())
	}
	// A config broken in itself gets no such hint.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("cache: { ttl: 30 }\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"validate", "-config", bad}, &out, &errOut); code != 1 || strings.Contains(errOut.String(), "-offline") {
		t.Errorf("a broken config: exit %d: %s", code, errOut.String())
	}
}

// validate refuses what serve would: addresses it cannot listen on, files
// it cannot read; -offline skips the files (and secrets).
func TestValidateChecksAddressesAndFiles(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		yaml, want string
		offline    bool
	}{
		{"grpc: { addr: \"9191\" }\n", `line 1: grpc.addr: "9191" is not host:port (write :9191`, false},
		{"http: { addr: \":99999\" }\n", `http.addr: port 99999 is not 0-65535`, false},
		{"issuers:\n  - { name: a, issuer: https://a/, jwks_file: /no/such/jwks.json }\n", "line 2: issuers.0.jwks_file: stat /no/such/jwks.json: no such file", false},
		{"grpc: { addr: \":9191\", tls: { cert_file: /no/cert.pem, key_file: /no/key.pem } }\n", "grpc.tls.cert_file: stat /no/cert.pem", false},
		{"issuers:\n  - { name: a, issuer: https://a/, jwks_file: /no/such/jwks.json }\n", "", true},
	} {
		path := filepath.Join(dir, "c.yaml")
		os.WriteFile(path, []byte(c.yaml), 0o600)
		args := []string{"validate", "-config", path}
		if c.offline {
			args = append(args, "-offline")
		}
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		if c.want == "" && code != 0 || c.want != "" && (code != 1 || !strings.Contains(errOut.String(), c.want)) {
			t.Errorf("%q: exit %d, %q, want %q", c.yaml, code, errOut.String(), c.want)
		}
	}
}

func TestCheckAgainstTheHTTPPortSaysSo(t *testing.T) {
	s := startServer(t, newIdP(t))
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "-addr", s.HTTPAddr().String()}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "an HTTP port? check speaks gRPC") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"check", "-addr", "localhost"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "want host:port") {
		t.Errorf("an address without a port: exit %d: %s", code, errOut.String())
	}
}

// The configuration reference (docs/configuration.md) is a config authz accepts.
func TestConfigReferenceValidates(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "# Configuration")
	open := strings.Index(text[start:], "```yaml\n") + start + len("```yaml\n")
	end := strings.Index(text[open:], "```") + open
	path := filepath.Join(t.TempDir(), "readme.yaml")
	os.WriteFile(path, []byte(text[open:end]), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-offline", "-config", path}, &out, &errOut); code != 0 {
		t.Errorf("the configuration reference: exit %d: %s", code, errOut.String())
	}
}

// With included files, the explained table says where each route and
// policy was written.
func TestValidateExplainNamesIncludedFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "teams"), 0o755)
	os.WriteFile(filepath.Join(dir, "jwks.json"), []byte(`{"keys":[]}`), 0o600)
	os.WriteFile(filepath.Join(dir, "authz.yaml"), []byte(`include: [{ files: teams/*.yaml, scope: { path_prefixes: [/orders/] } }]
issuers:
  - { name: a, issuer: https://a/, jwks_file: jwks.json }
policies:
  default: {}
routes:
  - { name: health, match: { path: /healthz }, policy: default }
`), 0o600)
	os.WriteFile(filepath.Join(dir, "teams", "orders.yaml"), []byte(`policies:
  orders: { require_scopes: [orders:read] }
routes:
  - { name: orders, match: { path_prefix: /orders/ }, policy: orders }
`), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-offline", "-config", filepath.Join(dir, "authz.yaml"), "-explain"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"written in", "authz.yaml: line 7", filepath.Join("teams", "orders.yaml") + ": line 4", filepath.Join("teams", "orders.yaml") + ": line 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain lacks %q:\n%s", want, out.String())
		}
	}
}

// check decodes the tokens an allow hands upstream, so an operator can
// read what the upstream will verify.
func TestCheckPrintsTheUpstreamToken(t *testing.T) {
	idp := newIdP(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	if err := keyfile.Write(keyFile, priv); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, idp, "  minted:\n    upstream_token: { audience: orders, claims: [scope] }\n",
		"upstream_tokens: { issuer: https://authz.test, key_files: ["+keyFile+"] }\n").GRPCAddr().String()
	tok, _ := idp.Mint("rsa-1", idp.Claims("alice", time.Hour, "orders:read", "orders-api"))

	var out bytes.Buffer
	if code := run([]string{"check", "-addr", addr, "-token", tok, "-policy", "minted", "-json"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	var res checkResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	minted, ok := res.Tokens["authorization"]
	if !ok || minted.Header["alg"] != "EdDSA" || minted.Header["typ"] != "JWT" || minted.Claims["aud"] != "orders" || minted.Claims["scope"] != "orders:read" {
		t.Fatalf("decoded tokens %+v", res.Tokens)
	}
	out.Reset()
	run([]string{"check", "-addr", addr, "-token", tok, "-policy", "minted"}, &out, io.Discard)
	if text := out.String(); !strings.Contains(text, "upstream tokens (decoded here, not verified):\n  authorization:\n    header: {\"alg\":\"EdDSA\"") ||
		!strings.Contains(text, `"iss":"https://authz.test"`) {
		t.Errorf("text output:\n%s", text)
	}
}

// The top-level usage names every flag of every command, so -h alone is
// enough to find one.
func TestUsageNamesEveryFlag(t *testing.T) {
	for _, cmd := range []string{"serve", "validate", "test", "check", "purge", "demo"} {
		var out bytes.Buffer
		run([]string{cmd, "-h"}, &out, &out)
		flags := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(out.String(), -1)
		if len(flags) == 0 {
			t.Fatalf("%s -h listed no flags:\n%s", cmd, out.String())
		}
		line := ""
		for _, l := range strings.Split(usage, "\n") {
			if strings.HasPrefix(l, "  "+cmd+" ") || line != "" && strings.HasPrefix(l, "           ") {
				line += l
			} else if line != "" {
				break
			}
		}
		for _, f := range flags {
			if !strings.Contains(line, "-"+f[1]+" ") && !strings.Contains(line, "-"+f[1]+"]") {
				t.Errorf("usage of %s does not name -%s", cmd, f[1])
			}
		}
	}
}

// validate -rendered reads a rendered chart's ConfigMaps as the pod
// mounts them, policy fragments included, and reports the config's
// mistakes with their lines.
func TestValidateRendered(t *testing.T) {
	rendered := `---
apiVersion: v1
kind: ConfigMap
metadata: { name: authz }
data:
  authz.yaml: |
    issuers:
      - { name: corp, issuer: https://idp.example.com/, jwks_url: https://idp.example.com/jwks.json }
    include: ["../policies/team.yaml"]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: authz-policies }
data:
  team.yaml: |
    policies:
      team: { require_scopes: [team:read] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: authz }
`
	path := filepath.Join(t.TempDir(), "rendered.yaml")
	os.WriteFile(path, []byte(rendered), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-offline", "-rendered", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	os.WriteFile(path, []byte(strings.Replace(rendered, "require_scopes", "require_scope", 1)), 0o600)
	out.Reset()
	errOut.Reset()
	if code := run([]string{"validate", "-offline", "-rendered", path}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), `unknown key "require_scope"`) {
		t.Errorf("a misspelt key in a fragment: exit %d: %s", code, errOut.String())
	}
	os.WriteFile(path, []byte("kind: Service\n"), 0o600)
	if code := run([]string{"validate", "-offline", "-rendered", path}, &out, &errOut); code != 1 {
		t.Errorf("no ConfigMap: exit %d", code)
	}
}

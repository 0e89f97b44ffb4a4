package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const minimal = `
issuers:
  - name: corp
    issuer: https://idp.example.com/
    jwks_url: https://idp.example.com/jwks.json
policies:
  default:
    headers: { sub: x-user-id }
  orders-write:
    require_scopes: [orders:write]
`

func TestDefaultsAndInheritance(t *testing.T) {
	cfg, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPC.Addr != "127.0.0.1:9191" || cfg.HTTP.Addr != "127.0.0.1:8181" || cfg.Cache.TTL != 30*time.Second || *cfg.Cache.NegativeTTL != 5*time.Second {
		t.Errorf("defaults not applied: %+v %+v", cfg.GRPC, cfg.Cache)
	}
	ow := cfg.Policies["orders-write"]
	if ow.Headers["sub"] != "x-user-id" || len(ow.Validators) != 1 || ow.Validators[0] != "corp" || ow.TokenSources[0].Scheme != "Bearer" {
		t.Errorf("orders-write did not inherit from default: %+v", ow)
	}
	if ow.RequireScopes[0] != "orders:write" || len(cfg.Policies["default"].RequireScopes) != 0 {
		t.Errorf("scopes: %+v", ow.RequireScopes)
	}
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "grpc: { addr: \":1\" }\ncahce: {}\n", []string{"line 2", `unknown key "cahce"`}},
		{"unknown nested key", minimal + "    require_scope: [x]\n", []string{"line 11", `unknown key "require_scope"; did you mean "require_scopes"?`}},
		{"a listen address that is a word", "grpc: { addr: \"none\" }\n", []string{`grpc.addr: "none" is not host:port or unix:PATH (like`}},
		{"an empty listen address", "grpc: { addr: \"\" }\n", []string{`line 1: grpc.addr: is empty: leave the key out for the default (127.0.0.1:9191, loopback only), write off`}},
		{"both listeners off", "grpc: { addr: off }\nhttp: { addr: off }\n", []string{`grpc.addr: both grpc and http are off`}},
		{"a bare port", "grpc: { addr: \"9191\" }\n", []string{`write :9191 to listen on every address`}},
		{"a port that is not a number", "grpc: { addr: \":9191x\" }\n", []string{`grpc.addr: port "9191x" is not a number`}},
		{"a route an earlier one shadows", minimal + "routes:\n  - { name: all, match: { path_prefix: / }, policy: default }\n  - { name: orders, match: { hosts: [shop.example], path_prefix: /orders/ }, policy: orders-write }\n",
			[]string{"line 13: routes #2 (orders).match", `route "orders" can never match: route #1 ("all") comes first`}},
		{"a rule that is not a condition", minimal + "  ruled:\n    rules:\n      - { name: r, expr: '\"a\"' }\n", []string{"policies.ruled.rules.0", "want bool"}},
		{"a policy key dedented to the policy names", minimal + "  ordered:\n  require_scopes: [x]\n", []string{`line 12: policies.require_scopes: "require_scopes" is a key of each entry of policies, not an entry: indent it under "ordered" (line 11)`}},
		{"a route key dedented out of its item", minimal + "routes:\n  - name: a\n    match: { path: /a }\n  policy: default\n", []string{`line 14: "policy: default" is indented 2 spaces, less than the keys of the list item it follows (line 12, 4 spaces)`}},
		{"a misspelt top-level key", "grpc: { addr: \":1\" }\ncahce: {}\n", []string{`unknown key "cahce"; did you mean "cache"?`}},
		{"a key like no other has no suggestion", "grpc: { addr: \":1\" }\nzzzzzzzz: {}\n", []string{`unknown key "zzzzzzzz"`}},
		{"a flow mapping names the key that is wrong", minimal + "routes:\n  - { name: health, match: { path: /healthz, methods: GET }, policy: default }\n", []string{"line 12: routes #1 (health).match.methods: want a list"}},
		{"a long value is quoted whole", "issuers:\n  - name: a\n    audiences: orders:read-and-write-everything\n", []string{`"orders:read-and-write-everything"`}},
		{"bad duration", "cache:\n  ttl: soon\n", []string{"line 2", "cache.ttl", `"soon" is not a duration; write it like`}},
		{"duration without a unit", "cache:\n  ttl: 30\n", []string{"line 2: cache.ttl: 30 is not a duration; write it with a unit, like 30s"}},
		{"not a number", "cache:\n  max_bytes: lots\n", []string{"line 2: cache.max_bytes:", "is not a number"}},
		{"not a list", "issuers:\n  - name: a\n    audiences: orders\n", []string{"line 3: issuers.0.audiences: want a list"}},
		{"indentation", "cache:\n ttl: 1s\n  negative_ttl: 2s\n", []string{"line 3", "indentation"}},
		{"issuer without keys", "issuers:\n  - name: a\n    issuer: https://a/\n", []string{"line 2", "issuers.0", "jwks_url, discovery or jwks_file"}},
		{"bad algorithm", strings.Replace(minimal, "jwks_url: https://idp.example.com/jwks.json", "jwks_url: https://idp.example.com/jwks.json\n    algorithms: [HS256]", 1), []string{"line 6", "issuers.0.algorithms.0", `"HS256" is not allowed`}},
		{"unknown validator", minimal + "  other:\n    validators: [nope]\n", []string{"line 12", "policies.other.validators.0", `unknown validator "nope"`}},
		{"status out of range", minimal + "outcomes:\n  error: { status: 200 }\n", []string{"line 12", "outcomes.error.status"}},
		{"claim onto host", strings.Replace(minimal, "x-user-id", "host", 1), []string{"policies.default.headers.sub", "cannot carry a claim"}},
		{"claim onto Content-Length", strings.Replace(minimal, "x-user-id", "Content-Length", 1), []string{"policies.default.headers.sub", "cannot carry a claim", "frames the request body"}},
		{"claim onto transfer-encoding", strings.Replace(minimal, "x-user-id", "transfer-encoding", 1), []string{"frames the request body"}},
		{"claim onto connection", strings.Replace(minimal, "x-user-id", "connection", 1), []string{"hop-by-hop"}},
		{"claim onto te", strings.Replace(minimal, "x-user-id", "te", 1), []string{"hop-by-hop"}},
		{"claim onto upgrade", strings.Replace(minimal, "x-user-id", "upgrade", 1), []string{"hop-by-hop"}},
		{"claim onto keep-alive", strings.Replace(minimal, "x-user-id", "keep-alive", 1), []string{"hop-by-hop"}},
		{"claim onto proxy-authorization", strings.Replace(minimal, "x-user-id", "Proxy-Authorization", 1), []string{"credentials"}},
		{"claim onto authorization", strings.Replace(minimal, "x-user-id", "authorization", 1), []string{"credentials"}},
		{"claim onto a pseudo-header", strings.Replace(minimal, "x-user-id", `":path"`, 1), []string{"pseudo-headers"}},
		{"claim onto x-envoy-*", strings.Replace(minimal, "x-user-id", "x-envoy-upstream-rq-timeout-ms", 1), []string{"Envoy's own"}},
		{"payload onto host", minimal + "    payload_header: Host\n", []string{"policies.orders-write.payload_header", "cannot carry the claims"}},
		{"admin off loopback with only a client CA", minimal + "admin:\n  addr: 0.0.0.0:9292\n  tls: { client_ca_file: /ca.pem }\n", []string{"line 12", "admin.addr", "cert_file, key_file and client_ca_file", "admin.tls.client_ca_file", "plain HTTP"}},
		{"admin off loopback with a certificate but no client CA", minimal + "admin:\n  addr: 10.0.0.1:9292\n  tls: { cert_file: /c.pem, key_file: /k.pem }\n", []string{"line 12", "admin.addr", "client_ca_file"}},
		{"policy_from unknown", minimal + "http: { policy_from: cookie }\n", []string{"line 11", "http.policy_from"}},
		{"duplicate issuer", minimal[:strings.Index(minimal, "policies:")] + "  - name: b\n    issuer: https://idp.example.com/\n    jwks_file: /x\n", []string{"issuers.1.issuer", "also the issuer of corp"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

const withIntrospection = minimal + `introspection:
  - name: in-a
    endpoint: https://idp.example.com/introspect
    client_id: authz
    client_secret: ${AUTHZ_TEST_SECRET}
`

func TestIntrospectionConfig(t *testing.T) {
	t.Setenv("AUTHZ_TEST_SECRET", "from-env")
	cfg, err := Parse([]byte(withIntrospection))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Introspection[0]
	// Limits and the auth method are left to the introspect package's defaults.
	if in.Secret != "from-env" || in.AuthMethod != "" || in.Timeout != 0 {
		t.Errorf("introspection: %+v", in)
	}
	if v := cfg.Policies["default"].Validators; len(v) != 2 || v[1] != "in-a" {
		t.Errorf("the only endpoint should join the default policy: %v", v)
	}

	cases := []struct {
		name string
		yaml string
		env  string
		want string
	}{
		{"unset env secret", withIntrospection, "", "environment variable AUTHZ_TEST_SECRET is empty or unset"},
		{"unknown auth method", withIntrospection + "    auth_method: mtls\n", "hunter2-secret-value", `"mtls": use client_secret_basic`},
		{"two endpoints in one policy", withIntrospection + `  - name: in-b
    endpoint: https://b.example.com/introspect
    auth_method: bearer
    client_secret: t
`, "hunter2-secret-value", "no-such"},
		{"issuer introspect unknown", strings.Replace(withIntrospection, "jwks_url: https://idp.example.com/jwks.json", "jwks_url: https://idp.example.com/jwks.json\n    introspect: nope", 1), "hunter2-secret-value", `unknown introspection endpoint "nope"`},
		{"missing secret file", strings.Replace(withIntrospection, "client_secret: ${AUTHZ_TEST_SECRET}", "client_secret_file: /nonexistent/secret", 1), "hunter2-secret-value", "read secret file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AUTHZ_TEST_SECRET", c.env)
			y := c.yaml
			if c.want == "no-such" {
				y = strings.Replace(y, "policies:\n", "policies:\n  two:\n    validators: [in-a, in-b]\n", 1)
				c.want = "policies.two.validators.1: a policy can name one introspection endpoint"
			}
			_, err := Parse([]byte(y))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if c.env != "" && strings.Contains(err.Error(), c.env) {
				t.Error("the error echoes the secret")
			}
		})
	}
}

func TestRoutesAndRulesErrorsNameFieldAndLine(t *testing.T) {
	base := minimal + "  admin:\n    token: optional\n"
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown policy", base + "routes:\n  - name: a\n    match: { path_prefix: /a/ }\n    policy: nope\n", []string{"line 16", "routes #1 (a).policy", `unknown policy "nope"`}},
		{"duplicate route names", base + "routes:\n  - { name: a, match: { path: /a }, policy: admin }\n  - { name: a, match: { path: /b }, policy: admin }\n", []string{"line 15", "routes #2 (a).name", "used twice"}},
		{"empty match", base + "routes:\n  - name: a\n    match: {}\n    policy: admin\n", []string{"line 15", "routes #1 (a).match", "empty"}},
		{"bad regex", base + "routes:\n  - name: a\n    match: { path_regex: \"(\" }\n    policy: admin\n", []string{"line 15", "routes #1 (a).match.path_regex", "missing closing"}},
		{"unmatched unknown", base + "routes_unmatched: nope\n", []string{"routes_unmatched", "name a policy, or deny"}},
		{"bad token mode", minimal + "  open:\n    token: sometimes\n", []string{"line 12", "policies.open.token", "required, optional or none"}},
		{"bad CEL names policy, rule and line", base + "    rules:\n      - name: tenant\n        expr: request.headers[\"x\"] ==\n", []string{"line 15", "policies.admin.rules.0.expr", "rule tenant", "Syntax error"}},
		{"rule without a name", base + "    rules:\n      - expr: \"true\"\n", []string{"policies.admin.rules.0.name", "is required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	cfg, err := Parse([]byte(base + "routes:\n  - name: a\n    match: { path_prefix: /a/ }\n    policy: admin\nroutes_unmatched: deny\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Routes[0].Policy != "admin" || cfg.Routing.Unmatched != "deny" || cfg.Policies["orders-write"].Token != "required" || cfg.Policies["admin"].Token != "optional" {
		t.Errorf("parsed %+v %+v", cfg.Routes, cfg.Routing)
	}
}

func TestRedisModes(t *testing.T) {
	salt := filepath.Join(t.TempDir(), "salt")
	os.WriteFile(salt, []byte("0123456789abcdef-salt"), 0o600)
	withRedis := func(r string) string { return minimal + "cache:\n  redis:\n" + r + "    key_salt_file: " + salt + "\n" }
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"addr and addrs", withRedis("    addr: a:1\n    addrs: [b:1]\n"), "not both"},
		{"single with two", withRedis("    addrs: [a:1, b:1]\n"), "single mode takes one address"},
		{"sentinel without master", withRedis("    mode: sentinel\n    addrs: [s:26379]\n"), "master_name"},
		{"cluster with a db", withRedis("    mode: cluster\n    addrs: [a:1]\n    db: 2\n"), "database 0 only"},
		{"replicas on single", withRedis("    addr: a:1\n    route_reads: replicas\n"), "needs mode: cluster or sentinel"},
		{"unknown mode", withRedis("    mode: ring\n    addr: a:1\n"), "single, cluster or sentinel"},
		{"cert without tls", withRedis("    addr: a:1\n    cert_file: c\n    key_file: k\n"), "needs tls: true"},
	} {
		if _, err := Parse([]byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	cfg, err := Parse([]byte(withRedis("    mode: sentinel\n    addrs: [s1:26379, s2:26379]\n    master_name: m\n    route_reads: replicas\n")))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Cache.Redis; !r.Enabled() || len(r.Nodes()) != 2 || r.MasterName != "m" {
		t.Errorf("%+v", r)
	}
}

func TestNoValidatorsSaysWhy(t *testing.T) {
	two := "introspection:\n  - { name: a, endpoint: https://a/i, client_id: x, client_secret: y }\n  - { name: b, endpoint: https://b/i, client_id: x, client_secret: y }\n"
	if _, err := Parse([]byte(two)); err == nil || !strings.Contains(err.Error(), "with 2 introspection endpoints and no issuer, name the one") {
		t.Errorf("two endpoints: %v", err)
	}
	if _, err := Parse([]byte("grpc: { addr: \":1\" }\n")); err == nil || !strings.Contains(err.Error(), "configure an issuer (JWTs) or an introspection endpoint") {
		t.Errorf("nothing: %v", err)
	}
}

func TestTracingEndpointIsHostPort(t *testing.T) {
	for endpoint, ok := range map[string]bool{"otel-collector:4317": true, "127.0.0.1:4317": true, "http://otel-collector:4317": false, "otel-collector": false} {
		_, err := Parse([]byte("issuers: [{ name: corp, issuer: https://idp.example/, jwks_url: https://idp.example/jwks }]\ntracing: { otlp_endpoint: \"" + endpoint + "\", insecure: true }\n"))
		if (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "tracing.otlp_endpoint") {
			t.Errorf("otlp_endpoint %q: err %v", endpoint, err)
		}
	}
}

// Every Issuer field either decides the key set (KeySource) or is named
// here as not deciding it: a new field must be placed, or a reload could
// keep keys fetched under old settings.
func TestKeySourceCoversEveryIssuerField(t *testing.T) {
	notKeys := map[string]bool{"Name": true, "Algorithms": true, "Audiences": true, "Leeway": true, "Type": true, "Introspect": true, "Tenants": true}
	ks := reflect.TypeOf(KeySource{})
	it := reflect.TypeOf(Issuer{})
	for i := range it.NumField() {
		name := it.Field(i).Name
		_, inKeys := ks.FieldByName(name)
		if inKeys == notKeys[name] {
			t.Errorf("Issuer.%s: in KeySource %v, listed as not deciding the keys %v", name, inKeys, notKeys[name])
		}
	}
}

// An unknown key is offered the nearest known key of its own mapping, and
// only when it is near enough to be a typo.
func TestUnknownKeySuggestions(t *testing.T) {
	for yaml, want := range map[string]string{
		"cache:\n  max_byte: 1048576\n":   `unknown key "max_byte"; did you mean "max_bytes"?`,
		"cache:\n  redis: { lese: 1s }\n": `unknown key "lese"; did you mean "lease"?`,
		"grpc: { adr: \":1\" }\n":         `unknown key "adr"; did you mean "addr"?`,
		"cache:\n  colour: blue\n":        `unknown key "colour"`,
	} {
		_, err := Parse([]byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", yaml, err, want)
			continue
		}
		if !strings.Contains(want, "did you mean") && strings.Contains(err.Error(), "did you mean") {
			t.Errorf("%q: %v suggests a key nothing like it", yaml, err)
		}
	}
}

// Valid but risky: keys or token answers over plain http off this host,
// and a client secret written in the file. Loopback and secrets from the
// environment or a file are quiet.
func TestRiskySettingsWarn(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings of one warning each, in order; none: no warning
	}{
		{"jwks over http off host", strings.Replace(minimal, "jwks_url: https://idp.example.com/jwks.json", "jwks_url: http://idp.example.com/jwks.json", 1),
			[]string{"line 5: issuers.0.jwks_url: plain http to idp.example.com"}},
		{"jwks over http on loopback", strings.Replace(minimal, "jwks_url: https://idp.example.com/jwks.json", "jwks_url: http://127.0.0.1:8080/jwks.json", 1), nil},
		{"introspection over http with a literal secret", minimal + "introspection:\n  - { name: idp, endpoint: http://idp.internal/introspect, client_id: authz, client_secret: s3cret }\n",
			[]string{"introspection.0.endpoint: plain http to idp.internal", "introspection.0.client_secret: a literal secret"}},
		{"a secret from the environment", minimal + "introspection:\n  - { name: idp, endpoint: https://idp.internal/introspect, client_id: authz, client_secret: \"${AUTHZ_TEST_SECRET}\" }\n", nil},
	}
	t.Setenv("AUTHZ_TEST_SECRET", "from-env")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) != len(c.want) {
				t.Fatalf("warnings %q, want %d", cfg.Warnings, len(c.want))
			}
			for i, w := range c.want {
				if !strings.Contains(cfg.Warnings[i], w) {
					t.Errorf("warning %q, want %q", cfg.Warnings[i], w)
				}
			}
		})
	}
}

// A Check that may wait longer than the proxy waits for it is a warning:
// the client would see the proxy's error, not authz's.
func TestWaitsLongerThanTheProxyAreAWarning(t *testing.T) {
	base := minimal + `introspection:
  - { name: idp, endpoint: https://idp.example.com/introspect, client_id: authz, client_secret: s, timeout: %s }
cache: { redis: { addr: 127.0.0.1:6379, key_salt_file: /dev/null, lease: %s } }
proxy_timeout: %s
`
	for _, c := range []struct {
		timeout, lease, proxy string
		warned                bool
	}{
		{"2s", "500ms", "3s", false},
		{"2s", "1s", "3s", true},
		{"2s", "500ms", "200ms", true},
		{"1s", "0s", "3s", false},
	} {
		cfg, err := parse("", []byte(fmt.Sprintf(base, c.timeout, c.lease, c.proxy)), true)
		if err != nil {
			t.Fatal(err)
		}
		warned := slices.ContainsFunc(cfg.Warnings, func(w string) bool { return strings.Contains(w, "proxy_timeout") })
		if warned != c.warned {
			t.Errorf("timeout %s lease %s proxy %s: warnings %q", c.timeout, c.lease, c.proxy, cfg.Warnings)
		}
	}
}

// A list or mapping where another shape belongs names its key and says
// what to write; a route is named as -explain numbers it.
func TestShapeErrorsNameTheKey(t *testing.T) {
	for yaml, want := range map[string]string{
		"cache:\n  negative_ttl: [5s]\n":                                  "line 2: cache.negative_ttl: want one duration, like 5s, not a list",
		"cache:\n  negative_ttl:\n    - 5s\n":                             "line 3: cache.negative_ttl: want one duration, like 5s, not a list",
		minimal + "    upstream_token:\n      request_claims: [method]\n": "upstream_token.request_claims: want keys and values (a mapping)",
		minimal + "routes:\n  - { name: all, match: { path_prefix: / }, policy: default }\n  - { name: x, match: { path: /x }, policy: nope }\n": `routes #2 (x).policy: unknown policy "nope"`,
	} {
		if _, err := Parse([]byte(yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", yaml, err, want)
		}
	}
}

// Independent mistakes come out of one run, each with its line: unknown
// keys, a bad value, a shadowed route; and no more than maxReported.
func TestValidateReportsEveryMistakeAtOnce(t *testing.T) {
	_, err := Parse([]byte("cahce: {}\npolicies:\n  default:\n    require_scope: [x]\n    token: maybe\nroutes:\n  - { name: all, match: { path_prefix: / }, policy: default }\n  - { name: x, match: { path: /x }, policy: default }\n"))
	for _, want := range []string{`line 1: unknown key "cahce"`, `line 4: unknown key "require_scope"`, `line 5: policies.default.token: "maybe"`, `route "x" can never match`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("one run: %v; want it to say %q", err, want)
		}
	}
	var many strings.Builder
	many.WriteString(minimal)
	for i := range 30 {
		fmt.Fprintf(&many, "  p%d:\n    token: nope\n", i)
	}
	_, err = Parse([]byte(many.String()))
	if err == nil || strings.Count(err.Error(), "\n") != maxReported || !strings.Contains(err.Error(), "… and 10 more") {
		t.Errorf("30 mistakes: %v", err)
	}
}

// Behind nginx, a claim header the shipped snippet does not carry is a
// warning naming it and the command that prints its lines.
func TestNginxWarnsOfHeadersTheSnippetDrops(t *testing.T) {
	cfg, err := Parse([]byte("http: { proxy: nginx }\n" + strings.Replace(minimal, "headers: { sub: x-user-id }", "headers: { sub: x-user-id, roles: x-roles }", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(cfg.Warnings, "\n"); !strings.Contains(w, "x-roles never reach the backend") || strings.Contains(w, "x-user-id never") || !strings.Contains(w, "authz nginx-snippet") {
		t.Errorf("warnings: %s", w)
	}
}

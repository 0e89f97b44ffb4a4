package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles lays out a config directory: name → text.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const platform = `include: [{ files: teams/*.yaml, scope: { path_prefixes: [/orders/, /payments/, /admin/orders/, /other] } }]
issuers:
  - name: corp
    issuer: https://idp.example.com/
    jwks_url: https://idp.example.com/jwks.json
policies:
  default:
    headers: { sub: x-user-id }
routes:
  - { name: health, match: { path: /healthz }, policy: default }
`

func TestIncludedFilesMergeInOrder(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"authz.yaml": platform,
		"teams/b-payments.yaml": `policies:
  payments: { require_scopes: [payments:read] }
routes:
  - { name: payments, match: { path_prefix: /payments/ }, policy: payments }
`,
		"teams/a-orders.yaml": `policies:
  orders: { require_scopes: [orders:read] }
routes:
  - { name: orders, match: { path_prefix: /orders/ }, policy: orders }
  - { name: orders-admin, match: { path_prefix: /admin/orders/ }, policy: orders }
`,
	})
	cfg, err := Load(filepath.Join(dir, "authz.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range cfg.Routes {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "health,orders,orders-admin,payments" {
		t.Errorf("route order %s: want the main file's, then each file's in path order", got)
	}
	if _, ok := cfg.Policies["payments"]; !ok {
		t.Error("a fragment's policy is missing")
	}
	if o := cfg.RouteOrigin(2); !strings.HasSuffix(o, "a-orders.yaml: line 5") {
		t.Errorf("origin of orders-admin: %q", o)
	}
	if len(cfg.Fragments) != 2 || cfg.Hash == "" {
		t.Errorf("fragments %v, hash %q", cfg.Fragments, cfg.Hash)
	}

	// A fragment's text is part of the config's identity.
	before := cfg.Hash
	os.WriteFile(filepath.Join(dir, "teams/b-payments.yaml"), []byte("policies:\n  payments: { require_scopes: [payments:write] }\n"), 0o600)
	cfg, err = Load(filepath.Join(dir, "authz.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hash == before {
		t.Error("a changed fragment left the config hash as it was")
	}
}

func TestIncludedFilesConflicts(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"a policy defined twice", map[string]string{"teams/a.yaml": "policies:\n  default: { require_scopes: [x] }\n"},
			[]string{"teams/a.yaml: line 2: policies.default: defined again; it is first defined in", "authz.yaml: line 7"}},
		{"a route name used twice", map[string]string{"teams/a.yaml": "routes:\n  - { name: health, match: { path: /other }, policy: default }\n"},
			[]string{"teams/a.yaml: line 2: routes.0.name:", `"health" is used twice; it is first used in`, "authz.yaml: line 10"}},
		{"a route another file shadows", map[string]string{
			"teams/a.yaml": "routes:\n  - { name: all-orders, match: { path_prefix: /orders/ }, policy: default }\n",
			"teams/b.yaml": "routes:\n  - { name: orders, match: { path_prefix: /orders/x/ }, policy: default }\n"},
			[]string{"teams/b.yaml: line 2: routes.0.match:", `route "orders" can never match: route "all-orders"`, "teams/a.yaml: line 2"}},
		// A team's file takes only what the main file's scope gives it.
		{"a catch-all in a fragment", map[string]string{"teams/a.yaml": "routes:\n  - { name: all, match: { path_prefix: / }, policy: default }\n"},
			[]string{"teams/a.yaml: line 2: routes.0", "catch-all and header-only routes belong in the main file"}},
		{"a header-only route in a fragment", map[string]string{"teams/a.yaml": "routes:\n  - { name: debug, match: { headers: { x-debug: \"1\" } }, policy: default }\n"},
			[]string{"teams/a.yaml: line 2: routes.0", `route "debug" matches by method or headers alone`}},
		{"a route outside the scope", map[string]string{"teams/a.yaml": "routes:\n  - { name: billing, match: { path_prefix: /billing/ }, policy: default }\n"},
			[]string{"teams/a.yaml: line 2: routes.0", `route "billing" leaves the scope`, "path_prefixes [/orders/ /payments/ /admin/orders/ /other]"}},
		{"a regex cannot be shown inside path prefixes", map[string]string{"teams/a.yaml": "routes:\n  - { name: any, match: { path_regex: \"/orders/.*\" }, policy: default }\n"},
			[]string{`route "any" leaves the scope`}},
		{"two teams' routes that meet", map[string]string{
			"teams/a.yaml": "policies:\n  a: { require_scopes: [a] }\nroutes:\n  - { name: a, match: { path_prefix: /orders/ }, policy: a }\n",
			"teams/b.yaml": "policies:\n  b: { require_scopes: [b] }\nroutes:\n  - { name: b, match: { path_prefix: /orders/b/, methods: [POST] }, policy: b }\n"},
			[]string{"teams/a.yaml: line 4: route \"a\" (policy a)", "teams/b.yaml: line 4: route \"b\" (policy b) can match the same request"}},
		{"a listener in a fragment", map[string]string{"teams/a.yaml": "grpc: { addr: \":1\" }\n"},
			[]string{"teams/a.yaml: line 1: grpc belongs in the main config file"}},
		{"issuers in a fragment", map[string]string{"teams/a.yaml": "policies: {}\nissuers: []\n"},
			[]string{"teams/a.yaml: line 2: issuers belongs in the main config file"}},
		{"an include in a fragment", map[string]string{"teams/a.yaml": "include: [x]\n"},
			[]string{"teams/a.yaml: line 1: include belongs in the main config file"}},
		{"a misspelt key in a fragment", map[string]string{"teams/a.yaml": "policies:\n  x: { require_scope: [a] }\n"},
			[]string{"teams/a.yaml:", "line 2", `did you mean "require_scopes"?`}},
		{"a validation error in a fragment names its file", map[string]string{"teams/a.yaml": "policies:\n  x:\n    validators: [nope]\n"},
			[]string{"teams/a.yaml: line 3: policies.x.validators.0", `unknown validator "nope"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"authz.yaml": platform}
			for k, v := range c.files {
				files[k] = v
			}
			dir := writeFiles(t, files)
			_, err := Load(filepath.Join(dir, "authz.yaml"))
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

func TestIncludeOfNoFileIsNoError(t *testing.T) {
	dir := writeFiles(t, map[string]string{"authz.yaml": platform})
	cfg, err := Load(filepath.Join(dir, "authz.yaml"))
	if err != nil || len(cfg.Fragments) != 0 {
		t.Fatalf("%v, fragments %v", err, cfg.Fragments)
	}
}

// A fragment's default would be every team's default: with the include
// example's main file (no default of its own), a teams/aaa.yaml defining
// default: { token: none } made the orders team's policy public.
func TestOnlyTheMainFileDefinesWhatItsRoutesApply(t *testing.T) {
	main := `include: [{ files: teams/*.yaml, scope: { path_prefixes: [/orders/] } }]
issuers:
  - name: corp
    issuer: https://idp.example.com/
    jwks_url: https://idp.example.com/jwks.json
routes:
  - { name: health, match: { path: /healthz }, policy: public }
  - { name: billing, match: { path_prefix: /billing/ }, policy: billing }
policies:
  public: { token: none }
  reports: { extends: shared }
`
	orders := "policies:\n  orders: { require_scopes: [orders:write] }\nroutes:\n  - { name: orders, match: { path_prefix: /orders/ }, policy: orders }\n"
	for _, c := range []struct{ fragment, want string }{
		{"policies:\n  default: { token: none }\n", "teams/aaa.yaml: line 2: policies.default: only the main config file may define default"},
		{"policies:\n  billing: { token: none }\n", "only the main config file may define billing (the main file's route \"billing\" applies it)"},
		{"policies:\n  shared: { token: none }\n", "only the main config file may define shared (the main file's policy \"reports\" extends it)"},
	} {
		dir := writeFiles(t, map[string]string{"authz.yaml": main, "teams/aaa.yaml": c.fragment, "teams/orders.yaml": orders})
		_, err := Load(filepath.Join(dir, "authz.yaml"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fragment %q: %v, want %q", c.fragment, err, c.want)
		}
	}
}

func TestATokenNonePolicyDemandsNothingOfATokenItself(t *testing.T) {
	base := `issuers:
  - name: corp
    issuer: https://idp.example.com/
    jwks_url: https://idp.example.com/jwks.json
policies:
  default: { require_scopes: [orders:read], rules: [{ name: tenant, expr: 'has(claims.tenant)' }] }
`
	for policy, want := range map[string]string{
		"public: { token: none, require_scopes: [orders:write] }":                            "policies.public.require_scopes: a token: none policy takes no token",
		"public: { token: none, require_audiences: [orders] }":                               "policies.public.require_audiences",
		"public: { token: none, validators: [corp] }":                                        "policies.public.validators",
		"public: { token: none, rules: [{ name: admin, expr: 'claims.role == \"a\"' }] }":    `rule "admin" reads the token`,
		"public: { token: none, rules: [{ name: get, expr: 'request.method == \"GET\"' }] }": "",
		"public: { token: none, rules: [] }":                                                 "", // what default demands is set aside
	} {
		_, err := Parse([]byte(base + "  " + policy + "\n"))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", policy, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", policy, err, want)
		}
	}
}

func TestIncludeEntries(t *testing.T) {
	frag := "routes:\n  - { name: orders, match: { path_prefix: /orders/ }, policy: default }\n"
	for main, want := range map[string]string{
		"include: [teams/*.yaml]\n":                                                          `the main file's include entry for this file declares no scope, so it may hold policies only`,
		"include: [{ files: teams/*.yaml, scope: {} }]\n":                                    "include.0.scope: is empty",
		"include: [{ files: teams/*.yaml, scope: { paths: [/orders/] } }]\n":                 `include scope: unknown key "paths"`,
		"include: [{ glob: teams/*.yaml }]\n":                                                `include entry: unknown key "glob"`,
		"include: [{ files: teams/*.yaml, scope: { hosts: [orders.shop] } }]\n":              `its hosts [] are not within the scope's [orders.shop]`,
		"include: [{ files: teams/*.yaml, scope: { path_prefixes: [/orders] } }]\n":          "",
		"include: [{ files: teams/*.yaml, scope: { path_prefixes: [/orders/] } }]\n":         "",
		"include: [{ files: teams/*.yaml, scope: { path_prefixes: [/order] } }]\n":           "leaves the scope",
		"include: [teams/*.yaml, { files: teams/o*.yaml, scope: { path_prefixes: [/] } }]\n": "both name",
	} {
		dir := writeFiles(t, map[string]string{"authz.yaml": main + strings.SplitN(platform, "\n", 2)[1], "teams/orders.yaml": frag})
		_, err := Load(filepath.Join(dir, "authz.yaml"))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", main, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", main, err, want)
		}
	}
}

package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authz-dev/authz/internal/keyfile"
)

func writeKey(t *testing.T, mode os.FileMode) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := keyfile.Write(path, priv); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, mode)
	return path
}

func TestUpstreamTokenConfig(t *testing.T) {
	key := writeKey(t, 0o600)
	good := minimal + `  phantom:
    upstream_token: { audience: orders, claims: [scope] }
  beside:
    extends: phantom
    upstream_token: { audience: orders, header: X-Identity, request_claims: { htm: method } }
  public:
    upstream_token: { source: none }
routes:
  - { name: r, match: { path_prefix: /a }, policy: phantom, upstream_audience: orders-a }
upstream_tokens:
  issuer: https://authz.example.com
  key_files: [` + key + `]
`
	cfg, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if ut := cfg.Policies["phantom"].UpstreamToken; ut.Source != "mint" || ut.Header != "authorization" {
		t.Errorf("defaults: %+v", ut)
	}
	if ut := cfg.Policies["beside"].UpstreamToken; ut.Header != "x-identity" {
		t.Errorf("header not lower-cased: %q", ut.Header)
	}
	if cfg.UpstreamTokens.Lifetime.String() != "5m0s" || len(cfg.Warnings) != 0 {
		t.Errorf("lifetime %v, warnings %q", cfg.UpstreamTokens.Lifetime, cfg.Warnings)
	}

	noKeys := strings.Replace(good, "  key_files: ["+key+"]\n", "", 1)
	cases := []struct{ name, yaml, want string }{
		{"mint without keys", noKeys, "policies.beside.upstream_token: mints with authz's key"},
		{"no audience", strings.Replace(good, "{ audience: orders, claims: [scope] }", "{ claims: [scope] }", 1), "policies.phantom.upstream_token.audience: is required"},
		{"reserved claim", strings.Replace(good, "claims: [scope]", "claims: [scope, exp]", 1), `upstream_token.claims.1: "exp" is set by authz`},
		{"unknown request part", strings.Replace(good, "htm: method", "htm: body", 1), `request_claims.htm: "body": use method, path, host`},
		{"a header authz cannot own", strings.Replace(good, "header: X-Identity", "header: x-envoy-original-path", 1), "cannot carry the token: Envoy's own"},
		{"the header also carries a claim", strings.Replace(good, "header: X-Identity", "header: x-user-id", 1), `"x-user-id" also carries claim "sub"`},
		{"idp without signed answers", strings.Replace(good, "{ source: none }", "{ source: idp }", 1), "needs an introspection endpoint with signed_answers"},
		{"token none", strings.Replace(good, "  public:\n    upstream_token: { source: none }", "  public:\n    extends: phantom\n    token: none", 1), "policies.public.upstream_token: a token: none policy has no token"},
		{"audience on a route of a non-minting policy", strings.Replace(good, "policy: phantom,", "policy: public,", 1), `routes.0.upstream_audience: policy "public" mints no upstream token`},
		{"not a key", strings.Replace(good, key, "/etc/hostname", 1), "upstream_tokens.key_files.0"},
		{"no issuer", strings.Replace(good, "  issuer: https://authz.example.com\n", "", 1), "upstream_tokens.issuer: is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}

	// A key others can read is a warning (Kubernetes mounts Secrets 0644
	// unless told otherwise); offline, the files are not read at all.
	loose := strings.Replace(good, key, writeKey(t, 0o644), 1)
	cfg, err = Parse([]byte(loose))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "readable or writable by group or others (mode 0644)") {
		t.Errorf("warnings %q", cfg.Warnings)
	}
	if _, err := parse("", []byte(strings.Replace(good, key, "/not/mounted/in/ci.pem", 1)), true); err != nil {
		t.Errorf("offline: %v", err)
	}
}

package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
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
		{"audience on a route of a non-minting policy", strings.Replace(good, "policy: phantom,", "policy: public,", 1), `routes #1 (r).upstream_audience: policy "public" mints no upstream token`},
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
	// The Helm chart's mount: root-owned, group the pod's fsGroup (the
	// process's own group), 0440 — readable by authz alone.
	for mode, warned := range map[os.FileMode]bool{0o640: false, 0o440: false, 0o660: true, 0o604: true} {
		cfg, err = Parse([]byte(strings.Replace(good, key, writeKey(t, mode), 1)))
		if err != nil {
			t.Fatal(err)
		}
		if (len(cfg.Warnings) == 1) != warned {
			t.Errorf("mode %04o, the process's own group: warnings %q", mode, cfg.Warnings)
		}
	}
	if _, err := parse("", []byte(strings.Replace(good, key, "/not/mounted/in/ci.pem", 1)), true); err != nil {
		t.Errorf("offline: %v", err)
	}
}

// An endpoint's signed answers find the IdP's keys as an issuer finds its
// own: one source, checked the same way.
func TestSignedAnswersKeySource(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret"), 0o600)
	endpoint := func(settings string) string {
		return minimal + `introspection:
  - { name: idp, endpoint: https://idp.example.com/introspect, client_id: authz, client_secret_file: ` + secret + `, ` + settings + ` }
`
	}
	good := "signed_answers: true, issuer: https://idp.example.com/, discovery: true"
	cfg, err := Parse([]byte(endpoint(good)))
	if err != nil || len(cfg.Warnings) != 0 {
		t.Fatalf("%v, warnings %q", err, cfg.Warnings)
	}
	for _, c := range []struct{ name, settings, want string }{
		{"no key source", "signed_answers: true, issuer: https://idp.example.com/", "introspection.0: one of jwks_url, discovery or jwks_file is required"},
		{"two key sources", good + ", jwks_url: https://idp.example.com/jwks", "introspection.0.discovery: cannot be combined with jwks_url"},
		{"a jwks_url that is no URL", "signed_answers: true, issuer: https://idp.example.com/, jwks_url: idp/jwks", "introspection.0.jwks_url: must be an http(s) URL"},
		{"no issuer", "signed_answers: true, jwks_url: https://idp.example.com/jwks", "introspection.0.issuer: is required with signed_answers"},
		{"an algorithm", good + ", algorithms: [HS256]", `introspection.0.algorithms.0: "HS256" is not allowed`},
		{"keys without signed answers", "jwks_url: https://idp.example.com/jwks", "set signed_answers: true"},
	} {
		if _, err := Parse([]byte(endpoint(c.settings))); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// Discovery over plain http names the keys that decide which answers
	// are believed: a warning, as for an issuer.
	cfg, err = Parse([]byte(endpoint("signed_answers: true, issuer: http://idp.example.com/, discovery: true")))
	if err != nil || len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "introspection.0.issuer: plain http to idp.example.com: the discovery document") {
		t.Errorf("%v, warnings %q", err, cfg.Warnings)
	}
}

// A policy that mints for tokens of two issuers must say whose alice is
// whose: the minted tokens differ only in orig_iss otherwise.
func TestMintingUnderSeveralIssuersNeedsASubjectChoice(t *testing.T) {
	key := writeKey(t, 0o600)
	base := `issuers:
  - { name: corp, issuer: https://idp.example.com/, jwks_url: https://idp.example.com/jwks.json }
  - { name: partner, issuer: https://partner.example.com/, jwks_url: https://partner.example.com/jwks.json }
upstream_tokens: { issuer: https://authz.example.com, key_files: [` + key + `] }
policies:
  default:
    validators: [corp, partner]
    upstream_token: { audience: orders%s }
`
	for subject, want := range map[string]string{
		"":                      "policies.default.upstream_token.subject: the policy accepts tokens of 2 issuers",
		", subject: as_is":      "",
		", subject: namespaced": "",
		", subject: prefixed":   `"prefixed": use as_is or namespaced`,
	} {
		_, err := Parse([]byte(fmt.Sprintf(base, subject)))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", subject, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want %q", subject, err, want)
		}
	}
}

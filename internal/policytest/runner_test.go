package policytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
)

// A certificate-bound token passes payments with the client's certificate
// and is refused without it: the case's peer certificate reaches the
// sender checks as Envoy would pass it.
func TestCertificateBoundCases(t *testing.T) {
	cfg, err := config.LoadOffline(filepath.Join("..", "..", "examples", "sender-constrained.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shop"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	bound := &Token{Claims: map[string]any{"sub": "pia", "scope": "payments:write", "cnf": map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}}}

	for _, c := range []struct {
		name, cert, want string
	}{
		{"with the bound certificate", certPEM, "allow"},
		{"without a certificate", "", "invalid"},
	} {
		res, err := r.Check(Case{Name: c.name, Request: Request{Method: "POST", Path: "/payments/1", PeerCertificate: c.cert}, Token: bound})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != c.want || res.Route != "payments" {
			t.Errorf("%s: %s on route %q, want %s on payments", c.name, res.Outcome, res.Route, c.want)
		}
	}
}

// A policy that forwards the IdP's signed answer (RFC 9701): the run's
// endpoint answers signed when asked, and a case reads the answer's claims.
func TestSignedAnswerCases(t *testing.T) {
	cfg, err := parseOffline(t, `
introspection:
  - { name: corp, endpoint: https://idp.example.com/introspect, client_id: authz, client_secret_file: /not/here,
      issuer: https://idp.example.com/, signed_answers: true, jwks_url: https://idp.example.com/jwks.json }
policies:
  default:
    upstream_token: { source: idp, header: x-introspection }
`)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := Case{Name: "signed", Token: &Token{Introspection: &Answer{Answer: map[string]any{"sub": "carol"}}},
		Expect: Expect{Outcome: "allow", Tokens: map[string]map[string]any{"x-introspection": {"iss": "https://idp.example.com/", "aud": "authz"}}}}
	res, err := r.Check(c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := Differences(c, res); len(diff) > 0 {
		t.Fatalf("%v (headers %v)", diff, res.Headers)
	}
	c.Expect.Tokens["x-introspection"]["aud"] = "someone-else"
	if diff := Differences(c, res); len(diff) != 1 {
		t.Fatalf("a wrong aud: %v", diff)
	}
}

func parseOffline(t *testing.T, text string) (*config.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authz.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.LoadOffline(path)
}

// A DPoP case binds its token to the run's client key and sends the proof
// it names: a fresh one passes payments, every flawed one is refused —
// with nonces required too, where the run first asks for one.
func TestDPoPCases(t *testing.T) {
	for _, nonces := range []bool{false, true} {
		cfg, err := parseOffline(t, `
issuers:
  - { name: corp, issuer: https://idp.example.com/, jwks_url: https://idp.example.com/jwks.json, algorithms: [ES256] }
introspection:
  - { name: opaque, endpoint: https://idp.example.com/introspect, client_id: authz, client_secret_file: /not/here }
dpop:
  require_nonce: `+fmt.Sprint(nonces)+`
  nonce_key_file: /not/at/hand   # the run makes its own
policies:
  default: {}
  payments: { sender_constraint: dpop }
routes:
  - { name: payments, match: { path_prefix: /payments/ }, policy: payments }
`)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range proofKinds {
			want := "invalid"
			if kind == "valid" {
				want = "allow"
			}
			for _, tok := range []*Token{
				{Claims: map[string]any{"sub": "pia"}, DPoP: &DPoP{Proof: kind}},
				{Introspection: &Answer{Answer: map[string]any{"sub": "pia"}}, DPoP: &DPoP{Proof: kind}},
			} {
				res, err := r.Check(Case{Name: kind, Request: Request{Method: "POST", Path: "/payments/1"}, Token: tok})
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != want || res.Route != "payments" {
					t.Errorf("nonces %v, proof %s, JWT %v: %s (%d, %v) on route %q, want %s", nonces, kind, tok.Claims != nil, res.Outcome, res.Status, res.Headers["www-authenticate"], res.Route, want)
				}
			}
		}
		r.Close()
	}
}

// A case file that cannot mean one thing is refused when read, saying
// which case and why.
func TestCaseFilesAreReadStrictly(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"no name", "cases: [{ expect: { outcome: allow } }]", "case 0 has no name"},
		{"no outcome", "cases: [{ name: a }]", `case "a": expect.outcome is required`},
		{"two tokens", "cases: [{ name: a, token: { literal: x, claims: { sub: b } }, expect: { outcome: allow } }]", "one of them"},
		{"an unknown key", "cases: [{ name: a, tokn: {}, expect: { outcome: allow } }]", `unknown key "tokn"; did you mean "token"?`},
		{"a proof kind", "cases: [{ name: a, token: { claims: {}, dpop: { proof: old } }, expect: { outcome: invalid } }]", `dpop.proof "old": use one of valid, none`},
		{"a bound literal", "cases: [{ name: a, token: { literal: x, dpop: {} }, expect: { outcome: allow } }]", "not a literal token"},
	} {
		path := filepath.Join(t.TempDir(), "cases.yaml")
		os.WriteFile(path, []byte(c.text), 0o600)
		if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

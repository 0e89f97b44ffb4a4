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
	"math/big"
	"os"
	"path/filepath"
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

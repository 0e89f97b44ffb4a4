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

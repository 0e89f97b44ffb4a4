package sender

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
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestPEMThumbprintEncodings: the certificate as Envoy and nginx
// percent-encode it, and as form encoding would, gives one thumbprint.
func TestPEMThumbprintEncodings(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	sum := sha256.Sum256(der)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	percent := strings.NewReplacer(" ", "%20", "\n", "%0A", "/", "%2F", "=", "%3D").Replace(certPEM) // '+' left as is
	for name, enc := range map[string]string{
		"percent, + kept":    percent,
		"percent, + encoded": strings.ReplaceAll(percent, "+", "%2B"),
		"form encoding":      url.QueryEscape(certPEM),
	} {
		got, err := PEMThumbprint(enc)
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}
	if _, err := PEMThumbprint(url.QueryEscape("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Error("a private key block was taken for a certificate")
	}
}

package sender

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/url"

	"github.com/authz-dev/authz/authz"
)

// maxCertBytes bounds a certificate handed over in a header or attribute.
const maxCertBytes = 16 << 10

// CertThumbprint returns the request's client certificate thumbprint as
// RFC 8705 §3.1 defines it for cnf["x5t#S256"]: base64url(SHA-256(DER)).
// The certificate is the proxy's URL-encoded PEM, or else the hex SHA-256
// a trusted x-forwarded-client-cert gave.
func (c *Checks) CertThumbprint(req *authz.Request) (string, error) {
	switch {
	case req.ClientCert != "":
		return PEMThumbprint(req.ClientCert)
	case req.ClientCertHash != "":
		sum, err := hex.DecodeString(req.ClientCertHash)
		if err != nil || len(sum) != sha256.Size {
			return "", errors.New("x-forwarded-client-cert Hash is not a hex SHA-256")
		}
		return base64.RawURLEncoding.EncodeToString(sum), nil
	}
	return "", nil
}

// PEMThumbprint decodes a URL-encoded PEM certificate (the first, the
// client's own, when a chain follows) and returns its x5t#S256.
func PEMThumbprint(escaped string) (string, error) {
	if len(escaped) > maxCertBytes {
		return "", errors.New("client certificate too large")
	}
	// Envoy and nginx percent-encode (a space is %20, a '+' of the
	// base64 body stays or becomes %2B); form encoding (a space as '+')
	// is tried only if that does not give a certificate.
	block := decodePEM(escaped, url.PathUnescape)
	if block == nil {
		block = decodePEM(escaped, url.QueryUnescape)
	}
	if block == nil {
		return "", errors.New("client certificate is not URL-encoded PEM CERTIFICATE")
	}
	sum := sha256.Sum256(block.Bytes)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

func decodePEM(escaped string, unescape func(string) (string, error)) *pem.Block {
	raw, err := unescape(escaped)
	if err != nil {
		return nil
	}
	block, _ := pem.Decode([]byte(raw))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil
	}
	return block
}

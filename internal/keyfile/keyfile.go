// Package keyfile reads a private key from PEM, as openssl and the
// standard library write them: PKCS #8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE
// KEY") or PKCS #1 ("RSA PRIVATE KEY"), one key per file.
package keyfile

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Read reads the key file at path.
func Read(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Parse reads one PEM private key: *ecdsa.PrivateKey, ed25519.PrivateKey
// or *rsa.PrivateKey (PKCS #8 may hold others; callers choose what they
// accept). An error never quotes the file: it may hold another secret.
func Parse(pemBytes []byte) (any, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block: one key per file")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	return key, nil
}

// Write writes priv to path as PKCS #8 PEM, readable by its owner only.
func Write(path string, priv any) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

package rediscache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authz-dev/authz/authz"
)

// formatV1 is the first byte of every stored value: the sealing format.
// A value of another version is a miss, so a rolling upgrade that changes
// the format never reads a value it does not understand.
const formatV1 = 1

// The two derivations use distinct labels, so the lookup key can never be
// the encryption key or reveal it.
const (
	lookupLabel = "authz l2 lookup key v1\x00"
	sealLabel   = "authz l2 value key v1"
)

// lookupKey names a token's entry: HMAC-SHA-256 under the deployment's
// salt, so a Redis dump cannot be matched against a list of tokens without
// the salt, and never holds a token.
func lookupKey(salt []byte, token, scope string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(lookupLabel))
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// valueKey derives the AES-256 key from the token itself: only a request
// carrying the token can open its entry.
func valueKey(salt []byte, token string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(token), salt, sealLabel, 32)
}

// plain is a SharedEntry as sealed.
type plain struct {
	Validator   string         `json:"v,omitempty"`
	Claims      map[string]any `json:"c,omitempty"`
	Expiry      int64          `json:"e,omitempty"` // token exp, unix ms
	Size        int            `json:"s,omitempty"`
	Live        bool           `json:"l,omitempty"`
	Signed      string         `json:"g,omitempty"`
	Invalid     string         `json:"i,omitempty"`
	Expired     bool           `json:"x,omitempty"`
	Until       int64          `json:"u"` // unix ms
	Fingerprint string         `json:"t,omitempty"`
	Judged      int64          `json:"j,omitempty"` // unix ms
}

// seal returns version || nonce || AES-256-GCM(entry), with the lookup key
// as additional data so a value moved under another key does not open.
func seal(salt []byte, token, key string, e authz.SharedEntry) ([]byte, error) {
	p := plain{Invalid: e.Invalid, Expired: e.Expired, Until: e.Until.UnixMilli(), Fingerprint: e.Fingerprint}
	if !e.Judged.IsZero() {
		p.Judged = e.Judged.UnixMilli()
	}
	if r := e.Result; r != nil {
		p.Validator, p.Claims, p.Size, p.Live, p.Signed = r.Validator, r.Claims, r.Size, r.Live, r.Signed
		if !r.Expiry.IsZero() {
			p.Expiry = r.Expiry.UnixMilli()
		}
	}
	msg, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode entry: %w", err)
	}
	return sealBytes(salt, token, key, msg)
}

// sealBytes is version || nonce || AES-256-GCM(msg) under the token's
// value key, with the lookup key as additional data.
func sealBytes(salt []byte, token, key string, msg []byte) ([]byte, error) {
	aead, err := newAEAD(salt, token)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(msg)+aead.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:], msg, []byte(key)), nil
}

// openBytes reverses sealBytes; any tampering, truncation or unknown
// version is errBadValue.
func openBytes(salt []byte, token, key string, b []byte) ([]byte, error) {
	aead, err := newAEAD(salt, token)
	if err != nil {
		return nil, err
	}
	if len(b) < 1+aead.NonceSize()+aead.Overhead() || b[0] != formatV1 {
		return nil, errBadValue
	}
	nonce, ct := b[1:1+aead.NonceSize()], b[1+aead.NonceSize():]
	msg, err := aead.Open(nil, nonce, ct, []byte(key))
	if err != nil {
		return nil, errBadValue
	}
	return msg, nil
}

var errBadValue = errors.New("stored value does not open")

// open reverses seal; any tampering, truncation or unknown version is errBadValue.
func open(salt []byte, token, key string, b []byte) (authz.SharedEntry, error) {
	msg, err := openBytes(salt, token, key, b)
	if err != nil {
		return authz.SharedEntry{}, err
	}
	var p plain
	if err := json.Unmarshal(msg, &p); err != nil {
		return authz.SharedEntry{}, errBadValue
	}
	e := authz.SharedEntry{Invalid: p.Invalid, Expired: p.Expired, Until: time.UnixMilli(p.Until), Fingerprint: p.Fingerprint}
	if p.Judged != 0 {
		e.Judged = time.UnixMilli(p.Judged)
	}
	if p.Invalid == "" {
		if p.Validator == "" {
			return authz.SharedEntry{}, errBadValue
		}
		e.Result = &authz.Result{Validator: p.Validator, Claims: p.Claims, Size: p.Size, Live: p.Live, Signed: p.Signed}
		if p.Expiry != 0 {
			e.Result.Expiry = time.UnixMilli(p.Expiry)
		}
	}
	return e, nil
}

func newAEAD(salt []byte, token string) (cipher.AEAD, error) {
	k, err := valueKey(salt, token)
	if err != nil {
		return nil, fmt.Errorf("derive value key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

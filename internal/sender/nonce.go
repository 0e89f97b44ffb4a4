package sender

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Nonces are server-provided DPoP nonces (RFC 9449 §8): a client's proof
// must carry one authz issued within Lifetime, which bounds how long a
// proof made ahead of time can be used. A nonce is
// base64url(issued-at seconds || HMAC-SHA256(key, issued-at)[:16]), so no
// replica keeps state, and replicas sharing the key accept each other's.
type Nonces struct {
	key      []byte
	lifetime time.Duration
	now      func() time.Time
}

// NewNonces returns nonces signed with key (at least 32 bytes), good for
// lifetime.
func NewNonces(key []byte, lifetime time.Duration, now func() time.Time) *Nonces {
	if now == nil {
		now = time.Now
	}
	return &Nonces{key: key, lifetime: lifetime, now: now}
}

// Issue returns a fresh nonce.
func (n *Nonces) Issue() string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n.now().Unix()))
	copy(b[8:], n.mac(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Valid reports whether nonce was issued with this key within the lifetime.
func (n *Nonces) Valid(nonce string) bool {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+16 || !hmac.Equal(b[8:], n.mac(b[:8])) {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	age := n.now().Sub(issued)
	return age >= -time.Minute && age <= n.lifetime // a minute of skew between replicas
}

func (n *Nonces) mac(msg []byte) []byte {
	h := hmac.New(sha256.New, n.key)
	h.Write(msg)
	return h.Sum(nil)[:16]
}

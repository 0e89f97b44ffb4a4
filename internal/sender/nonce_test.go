package sender

import (
	"strings"
	"testing"
	"time"
)

func TestNonces(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	key := []byte(strings.Repeat("k", 32))
	n := NewNonces(key, 5*time.Minute, clock)
	nonce := n.Issue()
	if !n.Valid(nonce) {
		t.Fatal("a fresh nonce is not valid")
	}
	other := NewNonces([]byte(strings.Repeat("o", 32)), 5*time.Minute, clock)
	if other.Valid(nonce) {
		t.Error("a nonce of another key is valid")
	}
	if !NewNonces(key, 5*time.Minute, clock).Valid(nonce) {
		t.Error("a replica with the same key refuses the nonce")
	}
	b := []byte(nonce)
	b[len(b)-1] ^= 1
	if n.Valid(string(b)) || n.Valid("") || n.Valid("not-a-nonce") {
		t.Error("a damaged nonce is valid")
	}
	now = now.Add(5*time.Minute + time.Second)
	if n.Valid(nonce) {
		t.Error("an expired nonce is valid")
	}
}

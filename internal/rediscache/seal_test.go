package rediscache

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
)

func TestSealOpen(t *testing.T) {
	salt := []byte("0123456789abcdef")
	token := "op_secret-token"
	key := lookupKey(salt, token, "corp")
	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	e := authz.SharedEntry{Result: &authz.Result{Validator: "corp", Claims: map[string]any{"sub": "alice", "exp": float64(1)}, Expiry: until, Size: 10, Signed: "eyJ.signed.answer"}, Until: until}
	b, err := seal(salt, token, key, e)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("alice")) || bytes.Contains(b, []byte(token)) || b[0] != formatV1 {
		t.Fatal("sealed value is readable or unversioned")
	}
	got, err := open(salt, token, key, b)
	if err != nil || got.Result.Claims["sub"] != "alice" || !got.Until.Equal(until) || !got.Result.Expiry.Equal(until) || got.Result.Signed != "eyJ.signed.answer" {
		t.Fatalf("open: %+v %v", got, err)
	}

	tampered := bytes.Clone(b)
	tampered[len(tampered)-3] ^= 1
	otherVersion := bytes.Clone(b)
	otherVersion[0] = 2
	for name, c := range map[string]struct {
		token, key string
		b          []byte
	}{
		"tampered":           {token, key, tampered},
		"other version":      {token, key, otherVersion},
		"truncated":          {token, key, b[:10]},
		"another token":      {"op_other", key, b},
		"moved to other key": {token, lookupKey(salt, "op_other", "corp"), b},
	} {
		if _, err := open(salt, c.token, c.key, c.b); !errors.Is(err, errBadValue) {
			t.Errorf("%s: err %v, want errBadValue", name, err)
		}
	}
	if lookupKey(salt, token, "corp") == lookupKey(salt, token, "") || lookupKey(salt, token, "") == lookupKey([]byte("another-salt-123"), token, "") {
		t.Error("lookup keys must differ by scope and salt")
	}
}

package apikey

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
)

func TestParseErrorsNameTheLine(t *testing.T) {
	h := Hash("azk_one")
	cases := []struct{ name, file, want string }{
		{"not a mapping", "- a\n", "line 1: want a mapping"},
		{"not a hash", "nothex: { sub: a }\n", `line 1: "nothex" is not a key's SHA-256`},
		{"a short hash", "abcd: { sub: a }\n", "is not a key's SHA-256"},
		{"an upper-case hash", strings.ToUpper(h) + ": { sub: a }\n", "is not a key's SHA-256"},
		{"a duplicate", h + ": { sub: a }\n" + h + ": { sub: b }\n", "line 2"},
		{"an unknown field", h + ":\n  sub: a\n  scopes: x\n", "line 3"},
		{"no owner", h + ": { scope: x }\n", "line 1: sub (the key's owner) is required"},
		{"a label over a claim", h + ": { sub: a, labels: { scope: admin } }\n", `label "scope" would overwrite`},
		{"broken YAML", h + ": { sub: a\n", "key file"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error containing %q", c.name, err, c.want)
		}
	}
	if s, err := Parse(nil); err != nil || s.Len() != 0 {
		t.Errorf("an empty file: %v, %v", s, err)
	}
}

func writeKeys(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// A key is judged by its hash: known keys become claims (never the key
// itself), unknown, disabled and expired ones are invalid; the watched
// file's changes count from the next Check, and a file that stops
// parsing keeps the last good keys.
func TestValidator(t *testing.T) {
	key, hash, err := NewKey()
	if err != nil || !strings.HasPrefix(key, Prefix) || Hash(key) != hash {
		t.Fatalf("NewKey: %q %q %v", key, hash, err)
	}
	other, otherHash, _ := NewKey()
	expired, expiredHash, _ := NewKey()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys(t, path, hash+": { sub: partner-a, client_id: batch, scope: \"orders:read\", tenant: t1, labels: { plan: gold } }\n"+
		otherHash+": { sub: partner-b, disabled: true }\n"+
		expiredHash+": { sub: partner-c, expires: 2020-01-01T00:00:00Z }\n")
	v, err := New(Options{Name: "partners", File: path, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	res, err := v.Validate(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sub": "partner-a", "client_id": "batch", "scope": "orders:read", "tenant": "t1", "plan": "gold", "api_key_id": hash[:12]}
	for k, w := range want {
		if res.Claims[k] != w {
			t.Errorf("claim %s = %v, want %v", k, res.Claims[k], w)
		}
	}
	if res.Validator != "partners" || len(res.Claims) != len(want) {
		t.Errorf("result %+v", res)
	}
	for name, k := range map[string]string{"unknown": "azk_nope", "disabled": other, "expired": expired, "a near miss": key[:len(key)-1] + "x"} {
		if _, err := v.Validate(context.Background(), k); !errors.Is(err, authz.ErrInvalidToken) || strings.Contains(err.Error(), k) {
			t.Errorf("%s key: %v", name, err)
		}
	}

	before := v.Fingerprint()
	writeKeys(t, path, hash+": { sub: partner-a, disabled: true }\n")
	deadline := time.Now().Add(5 * time.Second)
	for v.Fingerprint() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := v.Validate(context.Background(), key); !errors.Is(err, authz.ErrInvalidToken) {
		t.Errorf("a key disabled in the file: %v", err)
	}
	good := v.Fingerprint()
	writeKeys(t, path, "not: [valid")
	time.Sleep(100 * time.Millisecond)
	if v.Fingerprint() != good || v.Keys() != 1 {
		t.Errorf("a broken file replaced the keys: %d keys", v.Keys())
	}
}

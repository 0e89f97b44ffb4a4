package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/authz-dev/authz/authz/apikey"
)

// authz apikey new prints a key, and a file line and an HSET that hold
// only its hash.
func TestAPIKeyNew(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"apikey", "new", "-sub", "partner-a", "-scope", "orders:read"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(out.String(), "\n")
	key := strings.TrimSpace(lines[1])
	if !strings.HasPrefix(key, apikey.Prefix) || len(key) < 40 {
		t.Fatalf("key %q", key)
	}
	rest := strings.Join(lines[2:], "\n")
	if strings.Contains(rest, key) || !strings.Contains(rest, apikey.Hash(key)+`: { sub: "partner-a", scope: "orders:read" }`) || !strings.Contains(rest, "HSET <redis_key> "+apikey.Hash(key)) {
		t.Errorf("output:\n%s", out.String())
	}
	if s, err := apikey.Parse([]byte(strings.TrimSpace(lines[3]))); err != nil || s.Len() != 1 {
		t.Errorf("the printed line does not parse as a key file: %v", err)
	}
	if code := run([]string{"apikey", "new"}, &out, &errOut); code != 2 {
		t.Errorf("without -sub: exit %d", code)
	}
}

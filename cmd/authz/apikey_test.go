package main

import (
	"bytes"
	"os"
	"slices"
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

// authz nginx-snippet prints the lines for exactly the headers a config
// writes, and the shipped snippet is those lines for the nginx example.
func TestNginxSnippetMatchesTheShippedOne(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"nginx-snippet", "-config", "../../examples/nginx-profile.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	pairs := func(text string) []string {
		var got []string
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";"))
			switch {
			case len(f) == 3 && f[0] == "auth_request_set" && strings.HasPrefix(f[2], "$upstream_http_x_") && f[2] != "$upstream_http_x_authz_outcome":
				got = append(got, f[1]+"<-"+f[2])
			case len(f) == 3 && f[0] == "proxy_set_header" && strings.HasPrefix(f[2], "$authz_"):
				got = append(got, f[1]+"<-"+f[2])
			}
		}
		slices.Sort(got)
		return got
	}
	shipped, err := os.ReadFile("../../deploy/nginx/snippets/authz-upstream-headers.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pairs(out.String()), pairs(string(shipped)); !slices.Equal(got, want) || len(got) != 8 {
		t.Errorf("nginx-snippet for the example:\n%v\nthe shipped snippet:\n%v", got, want)
	}
}

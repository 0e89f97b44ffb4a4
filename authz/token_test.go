package authz

import (
	"errors"
	"strings"
	"testing"
)

func TestExtractToken(t *testing.T) {
	bearer := []TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	all := []TokenSource{{Header: "authorization", Scheme: "Bearer"}, {Header: "apikey"}, {Cookie: "access_token"}}
	cases := []struct {
		name    string
		sources []TokenSource
		header  MapHeader
		want    string
		err     error
	}{
		{"bearer", bearer, MapHeader{"authorization": {"Bearer abc"}}, "abc", nil},
		{"scheme is case-insensitive", bearer, MapHeader{"authorization": {"bearer abc"}}, "abc", nil},
		{"extra spaces after scheme", bearer, MapHeader{"authorization": {"Bearer   abc"}}, "abc", nil},
		{"basic is not a bearer token", bearer, MapHeader{"authorization": {"Basic YTpi"}}, "", errNoToken},
		{"scheme prefix of another word", bearer, MapHeader{"authorization": {"Bearerabc"}}, "", errNoToken},
		{"scheme without token is malformed", bearer, MapHeader{"authorization": {"Bearer"}}, "", errMalformedToken},
		{"token with inner space is malformed", bearer, MapHeader{"authorization": {"Bearer a b"}}, "", errMalformedToken},
		{"no header", bearer, MapHeader{}, "", errNoToken},
		{"named header", all, MapHeader{"apikey": {"k1"}}, "k1", nil},
		{"cookie", all, MapHeader{"cookie": {"a=1; access_token=c1; b=2"}}, "c1", nil},
		{"second cookie line", all, MapHeader{"cookie": {"a=1", "access_token=c1"}}, "c1", nil},
		{"same token twice is one", all, MapHeader{"authorization": {"Bearer t"}, "cookie": {"access_token=t"}}, "t", nil},
		{"two tokens are invalid", all, MapHeader{"authorization": {"Bearer t"}, "apikey": {"u"}}, "", errMultipleTokens},
		{"two authorization values", bearer, MapHeader{"authorization": {"Bearer t", "Bearer u"}}, "", errMultipleTokens},
		{"oversized token", bearer, MapHeader{"authorization": {"Bearer " + strings.Repeat("a", maxTokenBytes+1)}}, "", errMalformedToken},
		{"source not listed is ignored", bearer, MapHeader{"apikey": {"k1"}}, "", errNoToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := extractToken(c.header, c.sources)
			if got != c.want || !errors.Is(err, c.err) {
				t.Errorf("got %q, %v; want %q, %v", got, err, c.want, c.err)
			}
		})
	}
}

func TestRenderClaim(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{"alice", "alice"},
		{float64(1767225600), "1767225600"},
		{1.5, "1.5"},
		{1e21, "1000000000000000000000"},
		{true, "true"},
		{[]any{"a", "b", float64(3)}, "a;b;3"},
		{map[string]any{"roles": []any{"x"}}, `{"roles":["x"]}`},
		{[]any{map[string]any{"a": "b"}}, `{"a":"b"}`},
	}
	for _, c := range cases {
		if got := renderClaim(c.v, ";"); got != c.want {
			t.Errorf("renderClaim(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestLookupClaim(t *testing.T) {
	claims := map[string]any{
		"sub":                        "alice",
		"realm_access":               map[string]any{"roles": []any{"admin"}},
		"https://example.com/tenant": "t1",
		"a":                          map[string]any{"b.c": "dotted-inner"},
		"nothing":                    nil,
	}
	cases := map[string]any{"sub": "alice", "https://example.com/tenant": "t1", "a.b.c": "dotted-inner"}
	for path, want := range cases {
		if got, ok := lookupClaim(claims, path); !ok || got != want {
			t.Errorf("lookupClaim(%q) = %v, %v", path, got, ok)
		}
	}
	if got, ok := lookupClaim(claims, "realm_access.roles"); !ok || got.([]any)[0] != "admin" {
		t.Errorf("nested lookup = %v, %v", got, ok)
	}
	for _, path := range []string{"missing", "realm_access.groups", "sub.x", "nothing"} {
		if _, ok := lookupClaim(claims, path); ok {
			t.Errorf("lookupClaim(%q) found something", path)
		}
	}
}

func TestSanitizeHeaderValue(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
		ok   bool
	}{
		{"plain", 10, "plain", true},
		{"a\r\nb\x00c\x7f", 10, "abc", true},
		{"tab\tok", 10, "tab\tok", true},
		{"toolongvalue", 5, "", false},
		{"\r\n", 5, "", false},
	}
	for _, c := range cases {
		got, ok := sanitizeHeaderValue(c.in, c.max)
		if got != c.want || ok != c.ok {
			t.Errorf("sanitize(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	cases := map[string]bool{
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln": true,
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.":     true, // unsigned: still JWT-shaped, and rejected by the JWT validator
		"opaque-token-value":                        false,
		"a.b.c":                                     false,
		"eyJhbGciOiJSUzI1NiJ9.x":                    false,
		"eyJhbGciOiJSUzI1NiJ9.x.y.z":                false,
		"bm90IGpzb24.eyJzdWIiOiJhIn0.c2ln":          false, // header is not JSON
	}
	for tok, want := range cases {
		if got := looksLikeJWT(tok); got != want {
			t.Errorf("looksLikeJWT(%q) = %v, want %v", tok, got, want)
		}
	}
}

package authz

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzExtractToken: any header values end in one token, or one of the
// defined errors; a token found is bounded and has no whitespace.
func FuzzExtractToken(f *testing.F) {
	f.Add("Bearer abc", "", "")
	f.Add("bearer  abc", "k", "access_token=abc")
	f.Add("Bearer", "", "access_token=\"x\"; a=b")
	f.Add("Basic dXNlcg==", "", ";;=;access_token=")
	f.Add("Bearer a\x00b", "\r\n", "access_token=a b")
	sources := []TokenSource{{Header: "authorization", Scheme: "Bearer"}, {Header: "apikey"}, {Cookie: "access_token"}}
	f.Fuzz(func(t *testing.T, authorization, apikey, cookie string) {
		h := MapHeader{"authorization": {authorization}, "apikey": {apikey}, "cookie": {cookie}}
		tok, _, err := extractToken(h, sources)
		switch {
		case err == nil:
			if tok == "" || len(tok) > maxTokenBytes || strings.ContainsAny(tok, " \t\r\n\x00") {
				t.Fatalf("token %q accepted", tok)
			}
		case errors.Is(err, errNoToken), errors.Is(err, errMultipleTokens), errors.Is(err, errMalformedToken):
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
		default:
			t.Fatalf("undefined error %v", err)
		}
		looksLikeJWT(authorization) // must not panic on anything
	})
}

// FuzzRenderHeaders: whatever the claims, every header value set is free
// of control characters (but tab) and within the bound, and every mapped
// header is either set or removed.
func FuzzRenderHeaders(f *testing.F) {
	f.Add([]byte(`{"sub":"alice","realm_access":{"roles":["a","b"]},"exp":1.7e9}`))
	f.Add([]byte(`{"sub":"a\r\nx-admin: 1","email":null,"n":1e300,"o":{"k":[{"x":"\u0000"}]}}`))
	f.Add([]byte(`{"sub":["` + strings.Repeat("x", 100) + `"]}`))
	p := &Policy{
		Headers:         []ClaimHeader{{"sub", "x-user-id"}, {"email", "x-email"}, {"realm_access.roles", "x-roles"}, {"n", "x-n"}, {"o", "x-o"}},
		HeaderSeparator: ",", MaxHeaderBytes: 64, PayloadHeader: "x-payload",
	}
	plan := newHeaderPlan(p, nil)
	f.Fuzz(func(t *testing.T, payload []byte) {
		var claims map[string]any
		if json.Unmarshal(payload, &claims) != nil {
			return
		}
		var d Decision
		plan.render(claims, nil, &d)
		seen := map[string]bool{}
		for _, h := range d.Headers {
			if len(h.Value) > p.MaxHeaderBytes || h.Value == "" {
				t.Fatalf("%s: %d bytes", h.Name, len(h.Value))
			}
			for i := 0; i < len(h.Value); i++ {
				if c := h.Value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
					t.Fatalf("%s carries control byte %#x", h.Name, c)
				}
			}
			seen[h.Name] = true
		}
		for _, r := range d.RemoveHeaders {
			if seen[r] {
				t.Fatalf("%s both set and removed", r)
			}
			seen[r] = true
		}
		for _, m := range p.Headers {
			if !seen[m.Header] {
				t.Fatalf("%s neither set nor removed", m.Header)
			}
		}
	})
}

package authz

import "testing"

// Identifiers are compared by scheme and host case-insensitively, without
// a default port or a trailing slash; the path is compared as written, and
// what is not an identifier (a fragment, user information, no host) never
// matches.
func TestCanonicalResource(t *testing.T) {
	same := [][2]string{
		{"https://mcp.example.com/mcp", "https://MCP.Example.COM/mcp"},
		{"https://mcp.example.com/mcp", "HTTPS://mcp.example.com/mcp/"},
		{"https://mcp.example.com/mcp", "https://mcp.example.com:443/mcp"},
		{"https://mcp.example.com", "https://mcp.example.com/"},
		{"http://127.0.0.1:80/mcp", "http://127.0.0.1/mcp"},
	}
	for _, c := range same {
		a, errA := CanonicalResource(c[0])
		b, errB := CanonicalResource(c[1])
		if errA != nil || errB != nil || a != b {
			t.Errorf("%q and %q: %q (%v) and %q (%v); want one resource", c[0], c[1], a, errA, b, errB)
		}
	}
	different := [][2]string{
		{"https://mcp.example.com/mcp", "https://mcp.example.com/MCP"},
		{"https://mcp.example.com/mcp", "https://mcp.example.com:8443/mcp"},
		{"https://mcp.example.com/mcp", "http://mcp.example.com/mcp"},
		{"https://mcp.example.com/mcp", "https://mcp.example.com/mcp2"},
		{"https://mcp.example.com/mcp", "https://mcp.example.com/mcp/tools"},
		{"https://mcp.example.com/a%2Fb", "https://mcp.example.com/a/b"},
	}
	for _, c := range different {
		a, _ := CanonicalResource(c[0])
		b, _ := CanonicalResource(c[1])
		if a == b {
			t.Errorf("%q and %q both read as %q; want two resources", c[0], c[1], a)
		}
	}
	for _, bad := range []string{"", "mcp.example.com/mcp", "/mcp", "https://mcp.example.com/mcp#x", "https://mcp.example.com/mcp#", "https://u:p@mcp.example.com/mcp", "ftp://mcp.example.com/", "urn:example:mcp"} {
		if c, err := CanonicalResource(bad); err == nil {
			t.Errorf("%q read as resource %q; want an error", bad, c)
		}
	}
}

func TestAudienceNamesResource(t *testing.T) {
	r, _ := CanonicalResource("https://mcp.example.com/mcp")
	for _, c := range []struct {
		aud  any
		want bool
	}{
		{"https://mcp.example.com/mcp", true},
		{"https://MCP.example.com/mcp/", true},
		{[]any{"orders-api", "https://mcp.example.com/mcp"}, true},
		{[]string{"https://mcp.example.com/mcp"}, true},
		{"https://other.example.com/mcp", false},
		{"https://mcp.example.com/mcp#f", false},
		{[]any{"orders-api", 7}, false},
		{nil, false},
	} {
		if got := audienceNamesResource(map[string]any{"aud": c.aud}, r); got != c.want {
			t.Errorf("aud %v: %v, want %v", c.aud, got, c.want)
		}
	}
}

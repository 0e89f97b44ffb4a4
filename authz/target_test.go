package authz

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTargetProblem(t *testing.T) {
	cases := []struct {
		target  string
		refused bool
	}{
		{"/orders/1?x=1", false},
		{"", false},
		{"/catalog/%2e%2e/admin", false},    // every reader resolves it the same way
		{"/a%2Fb", false},                   // routes_encoded_slashes decides
		{"/caf%C3%A9", false},               // UTF-8
		{"/café", false},                    // raw UTF-8
		{"/a?q=%zz&r=\\x", false},           // the query's escapes and backslashes are the app's
		{"/catalog/..\\admin/secret", true}, // WHATWG: "\" is "/"
		{"/a\\b", true},
		{"/a\tb", true}, // WHATWG deletes tabs
		{"/a\x00b", true},
		{"/a b", true},
		{"/a\x7fb", true},
		{"/a%00b", true},
		{"/a%0Ab", true},
		{"/a%7f", true},
		{"/a?x=%0d%0a", true},
		{"/a#/../admin", true},
		{"/a?x#y", true},
		{"/a%zz", true},
		{"/catalog/%252e%252e/admin", true}, // decoded twice: /admin
		{"/a%25zz", true},                   // a literal "%": refused whatever follows
		{"/a%25", true},
		{"/catalog/%25%32%65%25%32%65/admin", true}, // hex digits encoded too: /admin after two decodings
		{"/catalog/%25%32e%25%32e/admin", true},
		{"/catalog/..%25%32%66admin", true}, // decodes to %2f, then to "/"
		{"/a?q=%25", false},                 // the query is the application's
		{"/Admin%23x", true},                // decoded once and re-parsed: /Admin
		{"/catalog/x%3F/../../admin", true}, // decoded once: /catalog/x?/../../admin
		{"/a?q=%23%3F", false},
		{"/admin%3Bx/users", true},     // decoded once: /admin;x/users, /admin/users to a servlet container
		{"//evil.example/admin", true}, // WHATWG: host evil.example
		{"///admin", true},
		{"/a%4", true},
		{"/a%", true},
		{"/a%C0%AE%C0%AE/admin", true}, // overlong "."
		{"/a\xc0\xae", true},
		{"http://evil/admin", true},
		{"*", true},
		{"admin", true},
	}
	for _, c := range cases {
		if got := TargetProblem(c.target); (got != "") != c.refused {
			t.Errorf("TargetProblem(%q) = %q, want refused=%v", c.target, got, c.refused)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	cases := []struct{ host, want, problem string }{
		{"shop.example.com", "shop.example.com", ""},
		{"Shop.Example.COM:8443", "shop.example.com", ""},
		{"shop.example.com.", "shop.example.com", ""},
		{"shop.example.com.:443", "shop.example.com", ""},
		{"127.0.0.1:80", "127.0.0.1", ""},
		{"[::1]:443", "[::1]", ""},
		{"[::1]", "[::1]", ""},
		{"", "", ""},
		{"a_b.internal", "a_b.internal", ""},
		{"shop.example.com..", "", "empty label in host"},
		{"a..b", "", "empty label in host"},
		{".shop", "", "empty label in host"},
		{".", "", "empty host name"},
		{":443", "", "empty host name"},
		{"user@shop.example.com", "", "invalid character in host"},
		{"shop.example.com:44x", "", "invalid port in host"},
		{"shop example", "", "invalid character in host"},
		{"[::1", "", "unterminated IPv6 literal in host"},
		{"[::g]", "", "invalid IPv6 literal in host"},
		{"[::1]x", "", "invalid port in host"},
		// WHATWG URL readers parse a host whose last label is a number as
		// IPv4: only a plain dotted quad reads alike everywhere.
		{"10.0.0.255:8080", "10.0.0.255", ""},
		{"0", "", "host reads as an IPv4 address to some readers and a name to others"},
		{"0:80", "", "host reads as an IPv4 address to some readers and a name to others"},
		{"127.1", "", "host reads as an IPv4 address to some readers and a name to others"},
		{"0x7f.0.0.1", "", "host reads as an IPv4 address to some readers and a name to others"},
		{"shop.0x", "", "host reads as an IPv4 address to some readers and a name to others"},
		{"010.0.0.1", "", "host reads as an IPv4 address to some readers and a name to others"},
		{"256.0.0.1", "", "host reads as an IPv4 address to some readers and a name to others"},
		{"shop.example.123", "", "host reads as an IPv4 address to some readers and a name to others"},
		{"123.shop", "123.shop", ""},
		{"0xfoo.example", "0xfoo.example", ""},
	}
	for _, c := range cases {
		got, problem := CanonicalHost(c.host)
		if got != c.want || problem != c.problem {
			t.Errorf("CanonicalHost(%q) = %q, %q; want %q, %q", c.host, got, problem, c.want, c.problem)
		}
	}
}

func TestCleanTargetCostsNoAllocation(t *testing.T) {
	r := &Request{Path: "/api/v1/orders/42?expand=items", Host: "shop.example.com:443"}
	if n := testing.AllocsPerRun(100, func() {
		_ = TargetProblem(r.Path)
		_, _ = CanonicalHost(r.Host)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzTargetProblem: a target authz accepts is one Go's own request-target
// parser accepts, and its decoded path is UTF-8 with no "\" or control
// character: nothing left for two readers to part on byte by byte. (An
// encoded "/" or "\" is routes_encoded_slashes' to refuse.)
func FuzzTargetProblem(f *testing.F) {
	for _, s := range []string{"/a/b?c=d", "/catalog/..\\admin", "/a%2Fb", "/%c0%ae", "//x/y", "/a#b", "/a%252e", "/caf%C3%A9", "/x?%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if TargetProblem(target) != "" || target == "" || HasEncodedSeparator(NormalizePath(target)) {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("accepted %q, which net/url refuses: %v", target, err)
		}
		if !utf8.ValidString(u.Path) || strings.ContainsRune(u.Path, '\\') || strings.HasPrefix(u.Path, "//") {
			t.Fatalf("accepted %q, whose path reads %q", target, u.Path)
		}
		for _, c := range []byte(u.Path) {
			if c < ' ' || c == 0x7f {
				t.Fatalf("accepted %q, whose path reads %q", target, u.Path)
			}
		}
	})
}

// BenchmarkTargetReading is what the one reading of a request adds to
// every Check: the target and host checks on a typical request.
func BenchmarkTargetReading(b *testing.B) {
	for _, c := range []struct{ name, target, host string }{
		{"clean", "/api/v1/orders/42?expand=items&page=2", "shop.example.com:443"},
		{"escaped", "/api/v1/orders/caf%C3%A9%20au%20lait?q=%E2%82%AC", "Shop.Example.com."},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if TargetProblem(c.target) != "" {
					b.Fatal("refused")
				}
				if _, p := CanonicalHost(c.host); p != "" {
					b.Fatal(p)
				}
			}
		})
	}
}

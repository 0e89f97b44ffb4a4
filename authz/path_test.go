package authz

import (
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/orders/1", "/orders/1"},
		{"/orders/1?x=1", "/orders/1"},
		{"/?/admin/", "/"},
		{"/a#frag", "/a"},
		{"", "/"},
		{"orders", "/orders"},
		{"/public/../admin/x", "/admin/x"},
		{"/public/./x", "/public/x"},
		{"/../../etc/passwd", "/etc/passwd"},
		{"//admin/x", "/admin/x"},
		{"/admin//x", "/admin/x"},
		{"/%61dmin/x", "/admin/x"},
		{"/%2e%2e/admin", "/admin"},
		{"/public/%2E%2E/admin/x", "/admin/x"},
		{"/admin%2F..%2Fx", "/admin%2F..%2Fx"},
		{"/admin%2f..%2fx", "/admin%2F..%2Fx"},
		{"/public/..%2Fadmin", "/public/..%2Fadmin"},
		{"/a%5Cb", "/a%5Cb"},
		{"/admin;x=1", "/admin"},
		{"/admin;jsessionid=1/users", "/admin/users"},
		{"/ADMIN/x", "/ADMIN/x"},
		{"/a%20b", "/a%20b"},
		{"/dir/", "/dir/"},
		{"/dir/.", "/dir/"},
		{"/dir/sub/..", "/dir/"},
		{"/.well-known/x", "/.well-known/x"},
		{"/%%610", "/%25a0"},   // no escape is formed by decoding
		{"/%%32%66", "/%252f"}, // nor an encoded slash
	}
	for _, c := range cases {
		if got := NormalizePath(c.in); got != c.want {
			t.Errorf("NormalizePath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalizePathDoesNotAllocateOnACleanPath(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { NormalizePath("/api/v1/orders/42?expand=items") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzNormalizePath: the result is a clean absolute path that normalising
// again leaves alone, and it never climbs out through a dot segment.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/a/b", "/public/../admin/x", "//x", "/%2e%2e/x", "/a%2F..%2Fb", "/a;b=c/d", "?/x", "/./.././", "/%zz/%2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := NormalizePath(in)
		if out == "" || out[0] != '/' {
			t.Fatalf("NormalizePath(%q) = %q: not absolute", in, out)
		}
		if again := NormalizePath(out); again != out {
			t.Fatalf("NormalizePath(%q) = %q, then %q", in, out, again)
		}
		for _, seg := range strings.Split(out, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("NormalizePath(%q) = %q keeps a dot segment", in, out)
			}
		}
	})
}

package authz

import "testing"

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

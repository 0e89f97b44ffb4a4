package rfc3986

import "testing"

func TestNormalizeEscapes(t *testing.T) {
	cases := []struct {
		in          string
		escapeStray bool
		want        string
	}{
		{"/a/b", false, "/a/b"},
		{"/%61dmin", false, "/admin"},
		{"/a%2fb", false, "/a%2Fb"},
		{"/%7e%2E", false, "/~."},
		{"/%zz", false, "/%zz"},
		{"/%zz", true, "/%25zz"},
		{"/%%610", true, "/%25a0"},
		{"/%", true, "/%25"},
	}
	for _, c := range cases {
		if got := NormalizeEscapes(c.in, c.escapeStray); got != c.want {
			t.Errorf("NormalizeEscapes(%q, %v) = %q, want %q", c.in, c.escapeStray, got, c.want)
		}
	}
}

func TestRemoveDotSegments(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b/../c": "/a/c", "/a/./b": "/a/b", "/../x": "/x", "/a/.": "/a/", "/a/b/..": "/a/", "/": "/",
	} {
		if got := RemoveDotSegments(in); got != want {
			t.Errorf("RemoveDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsHTTPURL(t *testing.T) {
	for s, want := range map[string]bool{
		"https://idp.example/token": true, "http://127.0.0.1:8080": true,
		"ftp://idp.example": false, "/token": false, "https://": false, "idp.example": false, "https://[::1": false,
	} {
		if got := IsHTTPURL(s); got != want {
			t.Errorf("IsHTTPURL(%q) = %v, want %v", s, got, want)
		}
	}
}

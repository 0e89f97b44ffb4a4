package sender

import "testing"

func TestSameTarget(t *testing.T) {
	cases := []struct {
		htu, scheme, host, target string
		want                      bool
	}{
		{"https://api.example/orders/1", "https", "api.example", "/orders/1", true},
		{"https://api.example/orders/1", "https", "api.example", "/orders/1?expand=items", true},
		{"HTTPS://API.Example:443/orders/%31", "https", "api.example", "/orders/1", true},
		{"http://api.example:80/a/./b/../c", "http", "api.example", "/a/c", true},
		{"https://api.example/a%2fb", "https", "api.example", "/a%2Fb", true},
		{"https://api.example", "https", "api.example", "/", true},
		{"https://api.example:8443/x", "https", "api.example:8443", "/x", true},
		{"https://api.example/orders/1?x=1", "https", "api.example", "/orders/1?x=1", false},
		{"https://api.example/orders/1#f", "https", "api.example", "/orders/1", false},
		{"https://api.example/orders/1", "http", "api.example", "/orders/1", false},
		{"https://api.example:8443/orders/1", "https", "api.example", "/orders/1", false},
		{"https://other.example/orders/1", "https", "api.example", "/orders/1", false},
		{"https://api.example/a%2Fb", "https", "api.example", "/a/b", false},
		{"https://user@api.example/x", "https", "api.example", "/x", false},
		{"/orders/1", "https", "api.example", "/orders/1", false},
		{"https://api.example/x", "", "api.example", "/x", false},
	}
	for _, c := range cases {
		if got := SameTarget(c.htu, c.scheme, c.host, c.target); got != c.want {
			t.Errorf("SameTarget(%q, %q, %q, %q) = %v, want %v", c.htu, c.scheme, c.host, c.target, got, c.want)
		}
	}
}

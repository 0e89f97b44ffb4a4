package leanhttp

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"testing"
)

// What the lean path reads, net/http reads the same way: every head it
// accepts, http.ReadRequest accepts too, with the same method, target,
// URL, Host and fields. (What it does not accept goes to net/http.)
func FuzzParseHeadMatchesNetHTTP(f *testing.F) {
	for _, s := range []string{
		"GET /check HTTP/1.1\r\nHost: authz\r\nX-Original-URI: /a?b=c\r\nAuthorization: Bearer x.y.z\r\n\r\n",
		"GET /check?policy=orders-write HTTP/1.1\r\nHost: 127.0.0.1:8181\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"GET /check HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /check HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET /check HTTP/1.1\nHost: a\n\n",
		"GET /check HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /c%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /check HTTP/1.1\r\nhost: a\r\nx_user_id:  v  \r\nX-Empty:\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parseHead(b)
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("lean accepted %q, net/http refused: %v", b, err)
		}
		if r.Method != h.method || r.RequestURI != h.target || r.Host != h.host || r.URL.String() != h.url.String() {
			t.Fatalf("%q: net/http read %s %s host %q url %s; lean %s %s host %q url %s", b, r.Method, r.RequestURI, r.Host, r.URL, h.method, h.target, h.host, h.url)
		}
		if !reflect.DeepEqual(r.Header, h.header) {
			t.Fatalf("%q: net/http's fields %q, lean's %q", b, r.Header, h.header)
		}
		if r.Close != h.close {
			t.Fatalf("%q: net/http close %v, lean %v", b, r.Close, h.close)
		}
	})
}

// The smuggling shapes and other oddities all go to net/http.
func TestOddHeadsGoToNetHTTP(t *testing.T) {
	for name, s := range map[string]string{
		"Content-Length and Transfer-Encoding": "GET /check HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"two Content-Lengths":                  "GET /check HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
		"a body":                               "GET /check HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
		"obs-fold":                             "GET /check HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n",
		"bare LF":                              "GET /check HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n",
		"NUL":                                  "GET /check HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n",
		"no Host":                              "GET /check HTTP/1.1\r\nX-A: 1\r\n\r\n",
		"two Hosts":                            "GET /check HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"HTTP/1.0":                             "GET /check HTTP/1.0\r\nHost: a\r\n\r\n",
		"lower-case method":                    "get /check HTTP/1.1\r\nHost: a\r\n\r\n",
		"absolute-form":                        "GET http://a/check HTTP/1.1\r\nHost: a\r\n\r\n",
		"space in the name":                    "GET /check HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n",
		"space before the colon":               "GET /check HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n",
		"Expect":                               "GET /check HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
		"Connection: upgrade":                  "GET /check HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
		"too many fields":                      "GET /check HTTP/1.1\r\nHost: a\r\n" + string(bytes.Repeat([]byte("X-A: 1\r\n"), maxFields+1)) + "\r\n",
		"obs-text":                             "GET /check HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n",
	} {
		if _, ok := parseHead([]byte(s)); ok {
			t.Errorf("%s: served on the lean path", name)
		}
	}
	if _, ok := parseHead([]byte("GET /check HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")); !ok {
		t.Error("a plain check request is not served on the lean path")
	}
}

// A connection's interner and reused head give what a fresh parse gives,
// request after request: no field, value or URL leaks from one to the next.
func TestReusedHeadsReadAsFreshOnes(t *testing.T) {
	heads := []string{
		"GET /check?policy=a HTTP/1.1\r\nHost: authz\r\nAuthorization: Bearer one\r\nX-Original-Uri: /x\r\n\r\n",
		"GET /check?policy=a HTTP/1.1\r\nHost: authz\r\nAuthorization: Bearer two\r\nConnection: close\r\n\r\n",
		"GET /check HTTP/1.1\r\nHost: other\r\nx-original-uri: /y\r\nX-Original-URI: /z\r\n\r\n",
		"GET /check?policy=a HTTP/1.1\r\nHost: authz\r\n\r\n",
	}
	var h head
	var in interner
	for range 2 {
		for _, s := range heads {
			want, ok := parseHead([]byte(s))
			if !ok || !readHead([]byte(s), &h, &in) {
				t.Fatalf("%q not read", s)
			}
			if h.method != want.method || h.target != want.target || h.host != want.host || h.close != want.close ||
				h.url.String() != want.url.String() || !reflect.DeepEqual(h.header, want.header) {
				t.Errorf("%q: reused %+v, fresh %+v", s, h, want)
			}
		}
	}
}

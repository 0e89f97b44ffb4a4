package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawExchange writes raw to addr in one write and reads up to n answers.
func rawExchange(t *testing.T, addr, raw string, n int) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
	return out
}

// The lean check path is as strict as net/http: every smuggling shape
// and malformed head is answered as net/http answers it (400, or served
// with net/http's own reading), pipelined requests are answered in order,
// and the rest of the listener still works on a connection that started
// on the check path.
func TestLeanCheckPathIsAsStrictAsNetHTTP(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.HTTP.Proxy = "nginx"
	h := startWith(t, idp, cfg)
	h.waitServing()
	addr := h.srv.httpLn.Addr().String()
	tok := h.mint("rsa-1", h.validClaims())
	check := "GET /check HTTP/1.1\r\nHost: authz\r\nX-Original-URI: /orders/1\r\nX-Original-Method: GET\r\nX-Forwarded-Host: shop.example\r\nAuthorization: Bearer " + tok + "\r\n"

	// net/http's own answers, from a plain http.Server with the same
	// handler: what the lean path must match.
	ref := httptest.NewServer(h.srv.http.Handler)
	defer ref.Close()
	refAddr := strings.TrimPrefix(ref.URL, "http://")
	status := func(a, raw string) int {
		if resps := rawExchange(t, a, raw, 1); len(resps) == 1 {
			return resps[0].StatusCode
		}
		return 0
	}
	for name, raw := range map[string]string{
		"a plain check":                        check + "\r\n",
		"Content-Length and Transfer-Encoding": check + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"two Content-Lengths":                  check + "Content-Length: 0\r\nContent-Length: 7\r\n\r\n",
		"a body":                               check + "Content-Length: 3\r\n\r\nabc",
		"obs-fold":                             check + "X-A: 1\r\n 2\r\n\r\n",
		"bare LF":                              strings.ReplaceAll(check, "\r\n", "\n") + "\n",
		"NUL in a value":                       check + "X-A: 1\x002\r\n\r\n",
		"no Host":                              strings.Replace(check, "Host: authz\r\n", "", 1) + "\r\n",
		"two Hosts":                            check + "Host: other\r\n\r\n",
		"an over-long head":                    check + "X-Long: " + strings.Repeat("a", 2<<20) + "\r\n\r\n",
		"a space before the colon":             check + "X-A : 1\r\n\r\n",
		"HTTP/1.0":                             strings.Replace(check, "HTTP/1.1", "HTTP/1.0", 1) + "\r\n",
		"a lower-case method":                  strings.Replace(check, "GET /check", "get /check", 1) + "\r\n",
		"an invalid escape":                    strings.Replace(check, "GET /check", "GET /check?%zz", 1) + "\r\n",
	} {
		if got, want := status(addr, raw), status(refAddr, raw); got != want || got == 0 {
			t.Errorf("%s: %d, net/http %d", name, got, want)
		}
	}

	// Pipelined: three requests in one write, three answers in order; a
	// denial and an allow on the lean path, then /healthz on the same
	// connection, which net/http answers.
	denied := strings.Replace(check, "Authorization: Bearer "+tok+"\r\n", "", 1)
	resps := rawExchange(t, addr, check+"\r\n"+denied+"\r\n"+"GET /healthz HTTP/1.1\r\nHost: authz\r\n\r\n", 3)
	if len(resps) != 3 || resps[0].StatusCode != 200 || resps[1].StatusCode != 401 || resps[2].StatusCode != 200 {
		var got []int
		for _, r := range resps {
			got = append(got, r.StatusCode)
		}
		t.Errorf("pipelined: %v, want [200 401 200]", got)
	}
	if len(resps) > 0 && (resps[0].Header.Get("X-User-Id") != "alice" || resps[0].Header.Get("Date") == "" || resps[0].ContentLength != 0) {
		t.Errorf("the lean answer: %v", resps[0].Header)
	}
	if len(resps) > 1 && resps[1].Header.Get("Content-Type") != "application/json" {
		t.Errorf("the lean denial: %v", resps[1].Header)
	}
	// Connection: close is honoured.
	resps = rawExchange(t, addr, check+"Connection: close\r\n\r\n"+check+"\r\n", 2)
	if len(resps) != 1 || !resps[0].Close {
		t.Errorf("Connection: close: %d answers, close %v", len(resps), len(resps) > 0 && resps[0].Close)
	}
}

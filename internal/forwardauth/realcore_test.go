package forwardauth_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/forwardauth"
	"github.com/authz-dev/authz/internal/leanhttp"
	"github.com/authz-dev/authz/internal/proxyprofile"
	"github.com/authz-dev/authz/internal/sender"
	"github.com/authz-dev/authz/internal/testsupport"
)

// The HTTP door with a real core behind it, served as the server serves
// it (the lean path, net/http behind) on a loopback listener: what a
// proxy's auth request does at the door, judged with real tokens. (What
// the listener adds — health, metrics, logs, reloads — is the server's
// suite.)

// openDoor serves the door over c with opts (proxy envoy unless opts
// names one) and returns its address, and the handler net/http serves the
// rest of the listener with (the door in front of /healthz).
func openDoor(t *testing.T, c coretest.Core, opts forwardauth.Options) (string, http.Handler) {
	t.Helper()
	if opts.Proxy.Name == "" {
		opts.Proxy, _ = proxyprofile.For("envoy")
	}
	door := forwardauth.New(c, opts)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	fallback := door.Front(mux)
	lean := &leanhttp.Server{Handler: door, Serves: func(_, target string) bool { return door.Serves(target) },
		Fallback: &http.Server{Handler: fallback, ReadHeaderTimeout: 5 * time.Second}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go lean.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lean.Shutdown(ctx)
	})
	return ln.Addr().String(), fallback
}

// forward sends a forward-auth request to the door at addr.
func forward(t *testing.T, addr, method, target string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestForwardAuthDoor(t *testing.T) {
	c := coretest.New(t)
	addr, _ := openDoor(t, c, forwardauth.Options{})
	tok := c.Mint(t, c.Valid())
	readOnly := c.Mint(t, c.IdP.Claims("bob", time.Hour, "orders:read", coretest.Audience))

	resp, _ := forward(t, addr, "POST", "/check/orders/1", map[string]string{"Authorization": "Bearer " + tok, "X-User-Id": "mallory"})
	if resp.StatusCode != 200 || resp.Header.Get("X-User-Id") != "alice" || resp.Header.Get("X-Authz-Outcome") != "allow" {
		t.Errorf("allow: %d %v", resp.StatusCode, resp.Header)
	}
	if rm := resp.Header.Get(forwardauth.HeadersToRemoveHeader); !strings.Contains(rm, "x-email") || !strings.Contains(rm, "x_user_id") {
		t.Errorf("headers to remove = %q", rm)
	}

	resp, _ = forward(t, addr, "POST", "/check", nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="authz"` || resp.Header.Get("X-Authz-Outcome") != "missing" {
		t.Errorf("missing: %d %v", resp.StatusCode, resp.Header)
	}

	// The policy comes from the header the proxy sets (policy_from header, the default).
	resp, _ = forward(t, addr, "GET", "/check", map[string]string{"Authorization": "Bearer " + readOnly, forwardauth.PolicyHeader: "orders-write"})
	if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="orders:write"`) {
		t.Errorf("forbidden by header policy: %d %v", resp.StatusCode, resp.Header)
	}

	// Envoy's HTTP ext_authz path-prefix mode: /check/<original path>, original method.
	if resp, _ = forward(t, addr, "DELETE", "/check/orders/1?x=1", map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 200 {
		t.Errorf("prefix mode: %d", resp.StatusCode)
	}
	resp, _ = forward(t, addr, "GET", "/check", map[string]string{"Authorization": "Bearer " + tok + "x"})
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("invalid: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestAllowStatus204AtAnotherPath(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Core: func(o *authz.Options) {
		o.Answers = authz.DefaultAnswers()
		o.Answers.ByOutcome[authz.Allow].Status = 204
	}})
	<-c.Keys.Ready()
	addr, _ := openDoor(t, c, forwardauth.Options{Path: "/auth"})
	resp, _ := forward(t, addr, "GET", "/auth", map[string]string{"Authorization": "Bearer " + c.MintKid(t, "ec-1", c.Valid())})
	if resp.StatusCode != 204 || resp.Header.Get("X-User-Id") != "alice" {
		t.Errorf("got %d %v", resp.StatusCode, resp.Header)
	}
	// The old path is nobody's: not the door's.
	if resp, _ := forward(t, addr, "GET", "/check", map[string]string{"Authorization": "Bearer " + c.Mint(t, c.Valid())}); resp.StatusCode != 404 {
		t.Errorf("/check with the door at /auth: %d", resp.StatusCode)
	}
}

// The client never picks the policy at the HTTP door.
func TestHTTPDoorPolicyNeverFromTheClient(t *testing.T) {
	c := coretest.New(t)
	readOnly := c.Mint(t, c.IdP.Claims("bob", time.Hour, "orders:read", coretest.Audience))
	bearer := map[string]string{"Authorization": "Bearer " + readOnly}
	with := func(k, v string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + readOnly, k: v}
	}
	t.Run("path-prefix mode: the client's query is never read, the operator's header is", func(t *testing.T) {
		log := &coretest.Reasons{}
		addr, _ := openDoor(t, c, forwardauth.Options{Observer: log}) // policy_from: header (default)
		if resp, _ := forward(t, addr, "GET", "/check/orders/42?policy=default", with(forwardauth.PolicyHeader, "orders-write")); resp.StatusCode != 403 {
			t.Errorf("client's ?policy=default beat the operator's orders-write: %d", resp.StatusCode)
		}
		// A policy named where this listener does not look is a proxy
		// misconfiguration: refused as an error, never the default applied.
		resp, _ := forward(t, addr, "GET", "/check?policy=orders-write", bearer)
		if resp.StatusCode != 503 || resp.Header.Get("X-Authz-Outcome") != "error" {
			t.Errorf("policy_from header, ?policy= on the check URI: %d %s, want an error", resp.StatusCode, resp.Header.Get("X-Authz-Outcome"))
		}
		if !strings.Contains(log.String(), "http.policy_from: query") {
			t.Errorf("the reason does not name the setting: %s", log)
		}
	})
	t.Run("policy_from query reads only the exact check path", func(t *testing.T) {
		addr, _ := openDoor(t, c, forwardauth.Options{PolicyFrom: proxyprofile.PolicyFromQuery})
		if resp, _ := forward(t, addr, "GET", "/check?policy=orders-write", bearer); resp.StatusCode != 403 {
			t.Errorf("operator's query on /check: %d, want 403", resp.StatusCode)
		}
		// The header is not where this listener takes a policy from: a
		// proxy that writes it is misconfigured.
		if resp, _ := forward(t, addr, "GET", "/check", with(forwardauth.PolicyHeader, "orders-write")); resp.StatusCode != 503 {
			t.Errorf("policy_from query, a policy in the header: %d, want 503", resp.StatusCode)
		}
		// Path-prefix mode: the query is the client's own, whatever it says.
		if resp, _ := forward(t, addr, "GET", "/check/orders/42?policy=orders-write", bearer); resp.StatusCode != 200 {
			t.Errorf("path-prefix mode: the client's query picked a policy: %d", resp.StatusCode)
		}
	})
	t.Run("policy_from none reads neither", func(t *testing.T) {
		addr, _ := openDoor(t, c, forwardauth.Options{PolicyFrom: proxyprofile.PolicyFromNone})
		if resp, _ := forward(t, addr, "GET", "/check?policy=orders-write", with(forwardauth.PolicyHeader, "orders-write")); resp.StatusCode != 503 {
			t.Errorf("policy_from none, a policy named: %d, want 503", resp.StatusCode)
		}
		if resp, _ := forward(t, addr, "GET", "/check/orders/1", bearer); resp.StatusCode != 200 {
			t.Errorf("policy_from none: %d, want the default policy's 200", resp.StatusCode)
		}
	})
	t.Run("a proxy that did not describe the request is an error, not a scope failure", func(t *testing.T) {
		nginx, _ := proxyprofile.For("nginx")
		addr, _ := openDoor(t, c, forwardauth.Options{Proxy: nginx})
		resp, body := forward(t, addr, "GET", "/check", map[string]string{"Authorization": "Bearer " + readOnly, "X-Original-Method": "GET", "X-Forwarded-Host": "shop"})
		if resp.StatusCode != 503 || resp.Header.Get("WWW-Authenticate") != "" || !strings.Contains(body, "did not describe the request") {
			t.Errorf("no X-Original-URI: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	})
}

// Every spelling of an owned header that mixes '-' and '_' is removed.
func TestMixedSpellingsOfClaimHeadersAreRemoved(t *testing.T) {
	c := coretest.New(t)
	addr, _ := openDoor(t, c, forwardauth.Options{})
	req, _ := http.NewRequest("GET", "http://"+addr+"/check", nil)
	req.Header.Set("Authorization", "Bearer "+c.Mint(t, c.Valid()))
	req.Header["x-User_id"] = []string{"mallory"}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rm := strings.Split(resp.Header.Get(forwardauth.HeadersToRemoveHeader), ","); !slices.Contains(rm, "x-user_id") {
		t.Errorf("headers to remove %q", rm)
	}
}

// The answer's headers as a proxy applies them (see the gRPC door's
// TestHeaderNameCaseOnTheWire): claim and payload headers written in mixed
// case in the policy, every case and spelling of them from the client.
func TestHeaderNameCaseOnTheWire(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Core: coretest.HeaderCasePolicy})
	<-c.Keys.Ready()
	addr, _ := openDoor(t, c, forwardauth.Options{})
	claims := c.Valid()
	delete(claims, "email")
	req, _ := http.NewRequest("GET", "http://"+addr+"/check/orders/1", nil)
	req.Header.Set("Authorization", "Bearer "+c.Mint(t, claims))
	for _, s := range coretest.ClientSpellings {
		req.Header[s] = []string{"mallory"} // sent as spelled
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A removed header is answered empty (for proxies that copy named
	// headers): only a value is a set.
	var sets []string
	for name := range resp.Header {
		if resp.Header.Get(name) != "" {
			sets = append(sets, name)
		}
	}
	coretest.CheckHeaderCase(t, sets, strings.Split(resp.Header.Get(forwardauth.HeadersToRemoveHeader), ","))
}

// The resource's challenges at this door, as at the gRPC door (envoy's
// TestProtectedResourceAudienceAndChallenges).
func TestProtectedResourceChallenges(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.MCP(t))
	<-c.Keys.Ready()
	addr, _ := openDoor(t, c, forwardauth.Options{})
	meta := `resource_metadata="` + coretest.MCPMetadata + `"`
	resp, _ := forward(t, addr, "GET", "/check/mcp", map[string]string{forwardauth.PolicyHeader: "mcp"})
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="authz", `+meta {
		t.Errorf("missing: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, _ = forward(t, addr, "GET", "/check/mcp", map[string]string{forwardauth.PolicyHeader: "mcp", "Authorization": "Bearer " + c.MintFor(t, "https://other.example.com/mcp", "mcp:tools")})
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, meta) {
		t.Errorf("another resource's token: %d %q", resp.StatusCode, ch)
	}
	resp, _ = forward(t, addr, "GET", "/check/mcp", map[string]string{forwardauth.PolicyHeader: "mcp", "Authorization": "Bearer " + c.MintFor(t, coretest.MCPResource, "mcp:tools")})
	if resp.StatusCode != 200 {
		t.Errorf("the resource's token: %d", resp.StatusCode)
	}
}

// Envoy's HTTP mode sends the body (with_request_body) for the same
// per-tool rules as the gRPC door's; a body past the door's bound or one
// Envoy marked cut short is refused.
func TestPerToolPolicyAtTheHTTPDoor(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t),
		coretest.MCP(t, coretest.DeleteNeedsAdmin))
	<-c.Keys.Ready()
	addr, _ := openDoor(t, c, forwardauth.Options{})
	user := c.MintFor(t, coretest.MCPResource, "mcp:tools")
	post := func(body string, extra map[string]string) int {
		req, _ := http.NewRequest("POST", "http://"+addr+"/check/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+user)
		req.Header.Set(forwardauth.PolicyHeader, "mcp")
		req.Header.Set("Content-Type", "application/json")
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(coretest.MCPCall("get_weather"), nil); got != 200 {
		t.Errorf("a harmless tool: %d", got)
	}
	if got := post(coretest.MCPCall("delete_repo"), nil); got != 403 {
		t.Errorf("a deleting tool without the scope: %d", got)
	}
	if got := post(coretest.MCPCall("get_weather"), map[string]string{"X-Envoy-Auth-Partial-Body": "true"}); got != 403 {
		t.Errorf("a body Envoy cut short: %d", got)
	}
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","pad":"` + strings.Repeat("x", 300<<10) + `"}}`
	if got := post(big, nil); got != 403 {
		t.Errorf("a body past the bound: %d", got)
	}
}

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

// The lean check path, in front of this door, is as strict as net/http:
// every smuggling shape and malformed head is answered as net/http answers
// it (400, or served with net/http's own reading), pipelined requests are
// answered in order, and the rest of the listener still works on a
// connection that started on the check path.
func TestLeanCheckPathIsAsStrictAsNetHTTP(t *testing.T) {
	c := coretest.New(t)
	nginx, _ := proxyprofile.For("nginx")
	addr, fallback := openDoor(t, c, forwardauth.Options{Proxy: nginx})
	tok := c.Mint(t, c.Valid())
	check := "GET /check HTTP/1.1\r\nHost: authz\r\nX-Original-URI: /orders/1\r\nX-Original-Method: GET\r\nX-Forwarded-Host: shop.example\r\nAuthorization: Bearer " + tok + "\r\n"

	// net/http's own answers, from a plain http.Server with the same
	// handler: what the lean path must match.
	ref := httptest.NewServer(fallback)
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

// Behind a proxy that sets x-forwarded-client-cert afresh (TrustXFCC), its
// Hash is the client certificate a certificate-bound token is checked
// against — one element on one field line only.
func TestCertificateBoundTokensTrustXFCC(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Core: func(o *authz.Options) {
		checks, err := sender.New(sender.Options{Window: time.Minute, Leeway: 5 * time.Second, Replay: sender.NewReplay(sender.ReplayOptions{Span: time.Minute})})
		if err != nil {
			t.Fatal(err)
		}
		o.Sender = checks
	}})
	<-c.Keys.Ready()
	addr, _ := openDoor(t, c, forwardauth.Options{TrustXFCC: true})
	sum := sha256.Sum256([]byte("not a real certificate, only its hash matters here"))
	claims := c.Valid()
	claims["cnf"] = map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
	token := c.Mint(t, claims)
	door := func(xfcc ...string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/check", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		for _, line := range xfcc {
			req.Header.Add("X-Forwarded-Client-Cert", line)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := door(`By=spiffe://cluster.local/ns/a/sa/b;Hash=` + hex.EncodeToString(sum[:]) + `;Subject="CN=x,O=y"`); s != 200 {
		t.Errorf("matching Hash: %d", s)
	}
	other := sha256.Sum256([]byte("another"))
	if s := door(`Hash=` + hex.EncodeToString(other[:])); s != 401 {
		t.Errorf("other Hash: %d", s)
	}
	// Two elements: which is the client's is a guess, so neither counts.
	if s := door(`Hash=` + hex.EncodeToString(other[:]) + `,Hash=` + hex.EncodeToString(sum[:])); s != 401 {
		t.Errorf("two XFCC elements: %d", s)
	}
	// The same two as two field lines: the first alone used to be read.
	if s := door(`Hash=`+hex.EncodeToString(sum[:]), `Hash=`+hex.EncodeToString(other[:])); s != 401 {
		t.Errorf("two XFCC field lines: %d", s)
	}
	// Without TrustXFCC the header is the client's: never read.
	plain, _ := openDoor(t, c, forwardauth.Options{})
	addr = plain
	if s := door(`Hash=` + hex.EncodeToString(sum[:])); s != 401 {
		t.Errorf("a door not told to trust x-forwarded-client-cert read it: %d", s)
	}
}

package envoy_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/envoy"
	"github.com/authz-dev/authz/internal/checktest"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/testsupport"
)

// The gRPC door with a real core behind it, over a real gRPC connection:
// what a client's request does at the door, judged with real tokens.
// (What the listener adds — health, metrics, logs, reloads — is the
// server's suite.)

type door struct {
	t      *testing.T
	client authv3.AuthorizationClient
}

// serve serves the door over dec on its own gRPC server, and returns a
// client connected to it; obs (nil: none) is told of every Check.
func serve(t *testing.T, dec authz.Decider, obs authz.Observer) authv3.AuthorizationClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, envoy.NewServer(dec, obs))
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// openDoor serves the door over c; obs (nil: none) is told of every Check.
func openDoor(t *testing.T, c coretest.Core, obs authz.Observer) *door {
	t.Helper()
	return &door{t: t, client: serve(t, c, obs)}
}

type checkOpt = checktest.Opt

var (
	withPolicy    = checktest.Policy
	withHeader    = checktest.Header
	withToken     = checktest.Token
	withHeaderMap = checktest.HeaderMap
)

func (d *door) check(opts ...checkOpt) *authv3.CheckResponse {
	d.t.Helper()
	return checktest.Check(d.t, d.client, opts...)
}

// expect reads resp and fails the test unless it is outcome with status.
func (d *door) expect(resp *authv3.CheckResponse, outcome string, status int) checktest.Answer {
	d.t.Helper()
	return checktest.Expect(d.t, resp, outcome, status)
}

func TestValidTokenIsAllowedWithClaimHeadersAndMetadata(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Core: func(o *authz.Options) { o.Policies[0].DynamicMetadata = true }})
	<-c.Keys.Ready()
	d := openDoor(t, c, nil)
	claims := c.Valid()
	claims["realm_access"] = map[string]any{"roles": []any{"admin", "buyer"}}
	for _, kid := range []string{"rsa-1", "ec-1"} {
		t.Run(kid, func(t *testing.T) {
			resp := d.check(withToken(c.MintKid(t, kid, claims)))
			a := d.expect(resp, "allow", 200)
			want := map[string]string{
				"x-authz-outcome": "allow",
				"x-user-id":       "alice",
				"x-scopes":        "orders:read orders:write",
				"x-roles":         "admin,buyer",
				"x-exp":           fmt.Sprint(claims["exp"]), // a number, never 1.7e+09
			}
			for k, v := range want {
				if a.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, a.Headers[k], v)
				}
			}
			// email is mapped but absent: removed, so a client copy cannot pass.
			if !slices.Contains(a.Removed, "x-email") || !slices.Contains(a.Removed, "x_user_id") {
				t.Errorf("headers_to_remove = %v, want x-email and x_user_id", a.Removed)
			}
			md := resp.GetDynamicMetadata().AsMap()
			if md["sub"] != "alice" || md["iss"] != c.IdP.Issuer() {
				t.Errorf("dynamic metadata = %v", md)
			}
		})
	}
}

func TestHeaderMapIsRead(t *testing.T) {
	c := coretest.New(t)
	d := openDoor(t, c, nil)
	// encode_raw_headers: values arrive in raw_value of header_map, and the map is empty.
	a := d.expect(d.check(func(r *authv3.CheckRequest) { r.Attributes.Request.Http.Headers = nil }, withHeaderMap("authorization", "Bearer "+c.Mint(t, c.Valid()))), "allow", 200)
	if a.Headers["x-user-id"] != "alice" {
		t.Errorf("x-user-id = %q", a.Headers["x-user-id"])
	}
	// Two Authorization values in header_map are two tokens.
	d.expect(d.check(withHeaderMap("authorization", "Bearer "+c.Mint(t, c.Valid()), "authorization", "Bearer "+c.MintKid(t, "ec-1", c.Valid()))), "invalid", 401)
}

func TestAbusiveRequests(t *testing.T) {
	c := coretest.New(t)
	d := openDoor(t, c, nil)
	tok := c.Mint(t, c.Valid())
	big := strings.Repeat("a", 64<<10)

	t.Run("a 64 KiB header beside a valid token", func(t *testing.T) {
		d.expect(d.check(withToken(tok), withHeader("x-big", big)), "allow", 200)
	})
	t.Run("a 64 KiB Authorization header", func(t *testing.T) {
		d.expect(d.check(withToken(big)), "invalid", 401)
	})
	t.Run("headers up to the bound, and past it", func(t *testing.T) {
		// check sets a few headers of its own besides these.
		many := func(n int) checkOpt {
			return func(r *authv3.CheckRequest) {
				for i := range n {
					r.Attributes.Request.Http.Headers[fmt.Sprintf("x-h-%d", i)] = "v"
				}
			}
		}
		d.expect(d.check(withToken(tok), many(authz.MaxHeaders-10)), "allow", 200)
		d.expect(d.check(withToken(tok), many(10_000)), "forbidden", 403)
		kv := make([]string, 0, 32_002)
		for i := range 16_000 {
			kv = append(kv, fmt.Sprintf("x-h-%d", i), "v")
		}
		kv = append(kv, "authorization", "Bearer "+tok)
		d.expect(d.check(withHeaderMap(kv...)), "forbidden", 403)
		d.expect(d.check(withHeaderMap(kv[len(kv)-2*(authz.MaxHeaders-10):]...)), "allow", 200)
	})
	t.Run("a 1 MiB token", func(t *testing.T) {
		d.expect(d.check(withToken(strings.Repeat("x", 1<<20))), "invalid", 401)
	})
	t.Run("a JWT with a 1 MiB payload", func(t *testing.T) {
		claims := c.Valid()
		claims["pad"] = strings.Repeat("p", 1<<20)
		d.expect(d.check(withToken(c.MintKid(t, "ec-1", claims))), "invalid", 401)
	})
}

// Every spelling of an owned header that mixes '-' and '_' is removed;
// another header that merely looks alike is not.
func TestMixedSpellingsOfClaimHeadersAreRemoved(t *testing.T) {
	c := coretest.New(t)
	d := openDoor(t, c, nil)
	claims := c.Valid() // no email claim
	a := d.expect(d.check(withToken(c.Mint(t, claims)), withHeader("x-user_id", "mallory"), withHeader("x_user-id", "mallory"), withHeader("x-e_mail", "kept"),
		withHeaderMap("X_Email", "mallory@evil", "X-Email", "mallory@evil")), "allow", 200)
	for _, name := range []string{"x-user_id", "x_user-id", "x_user_id", "x_email", "x-email"} {
		if !slices.Contains(a.Removed, name) {
			t.Errorf("%s not in headers_to_remove %q", name, a.Removed)
		}
	}
	if slices.Contains(a.Removed, "x-e_mail") {
		t.Errorf("x-e_mail is no spelling of an owned header, yet removed")
	}
}

// Envoy applies an answer's header sets, then its removes, comparing names
// lower-cased: a remove naming a header authz sets (in any case) would
// leave the upstream without it. Claim and payload headers written in
// mixed case in the policy, and every case and spelling of them from the
// client, in both of Envoy's header forms.
func TestHeaderNameCaseOnTheWire(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Core: coretest.HeaderCasePolicy})
	<-c.Keys.Ready()
	d := openDoor(t, c, nil)
	claims := c.Valid()
	delete(claims, "email") // X-Email is removed, the others set
	tok := c.Mint(t, claims)
	var kv []string
	for _, s := range coretest.ClientSpellings {
		kv = append(kv, s, "mallory")
	}
	withSpellings := func(r *authv3.CheckRequest) {
		for _, s := range coretest.ClientSpellings {
			r.Attributes.Request.Http.Headers[s] = "mallory"
		}
	}
	resp := d.check(withToken(tok), withSpellings, withHeaderMap(kv...))
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("not an allow: %v", resp.GetStatus())
	}
	var sets []string
	for _, hv := range ok.GetHeaders() {
		sets = append(sets, hv.GetHeader().GetKey())
	}
	coretest.CheckHeaderCase(t, sets, ok.GetHeadersToRemove())
}

// A token is accepted for the resource only when its audience names it
// (by the resource identifier rules: case of scheme and host, default
// port, trailing slash); a token for another server is invalid, not
// forbidden. Every challenge names the metadata; an insufficient_scope
// denial names the scope to step up to.
func TestProtectedResourceAudienceAndChallenges(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.MCP(t))
	<-c.Keys.Ready()
	d := openDoor(t, c, nil)
	meta := `resource_metadata="` + coretest.MCPMetadata + `"`

	a := d.expect(d.check(withPolicy("mcp")), "missing", 401)
	if got := a.Headers["www-authenticate"]; got != `Bearer realm="authz", `+meta {
		t.Errorf("missing: challenge %q", got)
	}
	for _, aud := range []any{coretest.MCPResource, "https://MCP.example.com:443/mcp/", []any{"orders-api", coretest.MCPResource}} {
		d.expect(d.check(withPolicy("mcp"), withToken(c.MintFor(t, aud, "mcp:tools"))), "allow", 200)
	}
	for _, aud := range []any{"https://other.example.com/mcp", "https://mcp.example.com/mcp/other", "https://mcp.example.com/mcp#x", "orders-api", nil} {
		a := d.expect(d.check(withPolicy("mcp"), withToken(c.MintFor(t, aud, "mcp:tools"))), "invalid", 401)
		if ch := a.Headers["www-authenticate"]; !strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, meta) {
			t.Errorf("aud %v: challenge %q", aud, ch)
		}
	}
	a = d.expect(d.check(withPolicy("mcp"), withToken(c.MintFor(t, coretest.MCPResource, "mcp:read"))), "forbidden", 403)
	if ch := a.Headers["www-authenticate"]; !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="mcp:tools"`) || !strings.Contains(ch, meta) {
		t.Errorf("forbidden: challenge %q", ch)
	}
	// A policy that guards no resource names no metadata.
	a = d.expect(d.check(), "missing", 401)
	if ch := a.Headers["www-authenticate"]; strings.Contains(ch, "resource_metadata") {
		t.Errorf("default policy: challenge %q", ch)
	}
}

// withBody is a POST to /mcp whose body Envoy sends (with_request_body),
// as raw_body (pack_as_bytes) or as body.
func withBody(body string, raw bool) checkOpt {
	return func(r *authv3.CheckRequest) {
		h := r.Attributes.Request.Http
		h.Method, h.Path = "POST", "/mcp"
		h.Headers[":method"], h.Headers[":path"] = "POST", "/mcp"
		if raw {
			h.RawBody = []byte(body)
		} else {
			h.Body = body
		}
	}
}

// Per-tool policy: a rule reads the JSON-RPC message Envoy sends in the
// body; each message of a batch is judged; a body that cannot be judged is
// refused with its reason.
func TestPerToolPolicyOverTheBody(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.MCP(t, coretest.DeleteNeedsAdmin))
	<-c.Keys.Ready()
	log := &coretest.Reasons{}
	d := openDoor(t, c, log)
	user, admin := c.MintFor(t, coretest.MCPResource, "mcp:tools"), c.MintFor(t, coretest.MCPResource, "mcp:tools tools:admin")

	for _, raw := range []bool{true, false} {
		d.expect(d.check(withPolicy("mcp"), withToken(user), withBody(coretest.MCPCall("get_weather"), raw)), "allow", 200)
		a := d.expect(d.check(withPolicy("mcp"), withToken(user), withBody(coretest.MCPCall("delete_repo"), raw)), "forbidden", 403)
		if !strings.Contains(a.Headers["www-authenticate"], `error="insufficient_scope"`) {
			t.Errorf("a refused tool: challenge %q", a.Headers["www-authenticate"])
		}
		d.expect(d.check(withPolicy("mcp"), withToken(admin), withBody(coretest.MCPCall("delete_repo"), raw)), "allow", 200)
	}
	batch := "[" + coretest.MCPCall("get_weather") + "," + coretest.MCPCall("delete_repo") + "]"
	d.expect(d.check(withPolicy("mcp"), withToken(user), withBody(batch, true)), "forbidden", 403)
	d.expect(d.check(withPolicy("mcp"), withToken(admin), withBody(batch, true)), "allow", 200)
	// GET opens the server's event stream: no body, no method, the rule holds.
	d.expect(d.check(withPolicy("mcp"), withToken(user)), "allow", 200)

	for name, opts := range map[string][]checkOpt{
		"not JSON-RPC":          {withBody(`{"jsonrpc":"2.0",`, true)},
		"only part of the body": {withBody(coretest.MCPCall("get_weather"), true), withHeader("x-envoy-auth-partial-body", "true")},
		"no body":               {withBody("", true)},
		"over the":              {withBody(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","pad":"`+strings.Repeat("x", 300<<10)+`"}}`, true)},
	} {
		before := log.String()
		d.expect(d.check(append([]checkOpt{withPolicy("mcp"), withToken(admin)}, opts...)...), "forbidden", 403)
		if said := strings.TrimPrefix(log.String(), before); !strings.Contains(said, "reads the request body, which cannot be judged") || !strings.Contains(said, name) {
			t.Errorf("%s: the reason says %s", name, said)
		}
	}
}

// An encoded slash is refused whatever names the policy: behind the nginx
// recipe the proxy names it, and a rule reading request.path would see
// "/admin%2Fusers" where gorilla/mux serves /admin/users.
func TestEncodedSlashesAreRefusedOnANamedPolicy(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Core: func(o *authz.Options) {
		p := coretest.Policy("ruled")
		p.Rules = coretest.Rules(t, `!request.path.startsWith("/admin/") || claims.scope.contains("admin")`)
		o.Policies = append(o.Policies, p)
	}})
	<-c.Keys.Ready()
	d := openDoor(t, c, nil)
	tok := c.Mint(t, c.Valid())
	for _, path := range []string{"/admin%2Fusers", "/admin%2fusers", "/x%5C..%5Cadmin"} {
		d.expect(d.check(withPolicy("ruled"), withToken(tok), func(r *authv3.CheckRequest) {
			r.Attributes.Request.Http.Path = path
			r.Attributes.Request.Http.Headers[":path"] = path
		}), "forbidden", 403)
	}
	d.expect(d.check(withPolicy("ruled"), withToken(tok)), "allow", 200)
}

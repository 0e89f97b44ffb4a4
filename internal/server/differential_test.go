package server

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// The differential test: every request target of the corpus (and, under
// make fuzz, every generated one) is judged by authz at each of its doors
// and read by servers authz did not write. Whenever any reader would serve
// the request under a route stricter than the one authz applied, authz must
// have denied it.
//
// The route table: host shop.example.com, paths under /admin and the
// exact path /billing/export are admin-only (scope "admin"), paths under
// /catalog/ are public, and so are GETs under /reports/ (the upstream's
// other handler there takes every other method, "get" among them);
// everything else needs a valid token.

// Strictness of a route, in order.
const (
	levelPublic = iota
	levelToken
	levelAdmin
)

var levelNames = [...]string{"public", "token-only", "admin"}

// routesUnderTest adds the route table to cfg.
func routesUnderTest(cfg *config.Config, proxy string) *config.Config {
	cfg.HTTP.Proxy = proxy
	cfg.Policies["public"] = config.Policy{Token: "none"}
	cfg.Policies["admin"] = config.Policy{RequireScopes: []string{"admin"}}
	cfg.Routes = []config.Route{
		{Name: "shop", Match: config.RouteMatch{Hosts: []string{"shop.example.com"}}, Policy: "admin"},
		{Name: "admin", Match: config.RouteMatch{PathPrefix: "/admin"}, Policy: "admin"},
		{Name: "catalog", Match: config.RouteMatch{PathPrefix: "/catalog/"}, Policy: "public"},
		{Name: "export", Match: config.RouteMatch{Path: "/billing/export"}, Policy: "admin"},
		{Name: "reports", Match: config.RouteMatch{PathPrefix: "/reports/", Methods: []string{"GET"}}, Policy: "public"},
	}
	return cfg
}

// routesBehindNginx is the route table behind the shipped nginx recipe,
// which names policies in the check URI's query.
func routesBehindNginx(idp *testidp.IdP) *config.Config {
	cfg := routesUnderTest(baseConfig(idp), "nginx")
	cfg.HTTP.PolicyFrom = "query"
	return cfg
}

// levelOfHost is the level a reader's host puts a request at: a name
// that is shop.example.com once its case, port, trailing dots and any
// userinfo are set aside is the admin-only host.
func levelOfHost(host string) int {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	if strings.TrimRight(h, ".") == "shop.example.com" {
		return levelAdmin
	}
	return levelPublic
}

// levelOfPath is the strictest level of p as served by method: read as it
// is; percent-decoded with dot segments resolved, again and again to a
// fixpoint (an upstream that decodes what a proxy or framework already
// decoded, as often as it likes); and each of those as an Express-like
// router reads it — case-insensitive, a trailing slash optional on its
// exact routes (a mounted router serves its prefix by whole segments).
func levelOfPath(method, p string) int {
	const export = "/billing/export" // the upstream's one exact route
	level := func(p string) int {
		switch {
		case p == "/admin" || strings.HasPrefix(p, "/admin/"), p == export:
			return levelAdmin
		case strings.HasPrefix(p, "/catalog/"):
			return levelPublic
		case strings.HasPrefix(p, "/reports/") && method == "GET":
			return levelPublic
		}
		return levelToken
	}
	lenient := func(p string) int {
		l := max(level(p), level(strings.ToLower(p)))
		if strings.EqualFold(strings.TrimSuffix(p, "/"), export) {
			l = levelAdmin
		}
		return l
	}
	l := lenient(p)
	for range 8 {
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		c := path.Clean(d)
		if strings.HasSuffix(d, "/") && c != "/" {
			c += "/"
		}
		l = max(l, lenient(d), lenient(c))
		p = d
	}
	return l
}

// reading is one reader's view of a request: who read it and what.
type reading struct {
	reader, method, path, host string
}

func (r reading) level() int { return max(levelOfPath(r.method, r.path), levelOfHost(r.host)) }

// door asks authz about a request at one of its doors, the way a proxy
// in front would: allowed reports the answer; seen is what the upstream
// got, when a real proxy forwarded the request; skip means this door
// cannot be asked about such a target.
type door struct {
	name string
	ask  func(method, target, host, token string) (allowed bool, seen *echoed, skip bool, err error)
}

type differential struct {
	doors []door
	node  *nodeReader
	gomux *goReader
	token string
}

func newDifferential(t testing.TB) *differential {
	t.Helper()
	idp := newIdP(t)
	envoyDoors := startWith(t, idp, routesUnderTest(baseConfig(idp), "envoy"))
	behindNginx := startWith(t, idp, routesBehindNginx(idp))
	behindCaddy := startWith(t, idp, routesUnderTest(baseConfig(idp), "caddy"))
	for _, h := range []*harness{envoyDoors, behindNginx, behindCaddy} {
		h.waitServing()
	}
	echo := differentialEcho(t)
	backend := strings.TrimPrefix(echo.URL, "http://")
	echoNginx := "proxy_set_header X-Echo-Uri $uri;\n        proxy_set_header X-Echo-Host $host;\n        "
	nginx := startNginxWith(t, behindNginx.srv.httpLn.Addr().String(), backend, echoNginx)
	nginxURI := startNginxPassing(t, behindNginx.srv.httpLn.Addr().String(), backend, echoNginx, "http://backend$uri")
	caddy := startCaddy(t, behindCaddy.srv.httpLn.Addr().String(), backend)

	d := &differential{node: newNodeReader(t), gomux: newGoReader(t), token: envoyDoors.mint("rsa-1", envoyDoors.validClaims())}
	bearer := func(token string) map[string]string {
		if token == "" {
			return nil
		}
		return map[string]string{"Authorization": "Bearer " + token}
	}
	viaProxy := func(addr string) func(method, target, host, token string) (bool, *echoed, bool, error) {
		return func(method, target, host, token string) (bool, *echoed, bool, error) {
			if !sendable(target, host) {
				return false, nil, true, nil
			}
			r, err := rawRequestMethod(addr, method, target, host, bearer(token))
			if err != nil || r.status != 200 {
				return false, nil, false, err
			}
			if method == "HEAD" {
				return true, nil, false, nil // no body: read as sent
			}
			var e echoed
			if err := json.Unmarshal(r.body, &e); err != nil {
				return false, nil, false, fmt.Errorf("echo answer %q: %w", r.body, err)
			}
			return true, &e, false, nil
		}
	}
	d.doors = []door{
		{"gRPC (Envoy without normalisation)", func(method, target, host, token string) (bool, *echoed, bool, error) {
			if !utf8.ValidString(target) || !utf8.ValidString(host) || !utf8.ValidString(method) {
				return false, nil, true, nil // a proto string holds UTF-8 only
			}
			hdr := map[string]string{":authority": host, ":path": target, ":method": method}
			if token != "" {
				hdr["authorization"] = "Bearer " + token
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := envoyDoors.client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Method: method, Host: host, Path: target, Scheme: "http", Protocol: "HTTP/1.1", Headers: hdr,
				}},
			}})
			if err != nil {
				return false, nil, false, err
			}
			return resp.GetStatus().GetCode() == 0, nil, false, nil
		}},
		{"HTTP, envoy path-prefix mode", func(method, target, host, token string) (bool, *echoed, bool, error) {
			if !sendable(target, host) {
				return false, nil, true, nil
			}
			r, err := rawRequestMethod(envoyDoors.srv.httpLn.Addr().String(), method, "/check"+target, host, bearer(token))
			return err == nil && r.status == 200, nil, false, err
		}},
		{"nginx (shipped recipe) then authz", viaProxy(nginx)},
		{"nginx (shipped recipe, proxy_pass …$uri) then authz", viaProxy(nginxURI)},
		{"Caddy forward_auth (shipped Caddyfile) then authz", viaProxy(caddy)},
	}
	return d
}

// check runs one target through every door and reader and returns what
// it finds: each door that applied a weaker route than a reader serves.
func (d *differential) check(method, target, host string) ([]string, error) {
	type applied struct {
		door  string
		level int
		// seen is what the proxy in front of the door forwarded to its
		// upstream; none for Envoy's doors, which forward the client's
		// target as it came.
		seen []*echoed
	}
	var doors []applied
	for _, dr := range d.doors {
		a := applied{door: dr.name, level: levelAdmin}
		for _, probe := range []struct {
			token string
			level int
		}{{"", levelPublic}, {d.token, levelToken}} {
			ok, e, skip, err := dr.ask(method, target, host, probe.token)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", dr.name, err)
			}
			if skip {
				break
			}
			if e != nil {
				a.seen = append(a.seen, e)
			}
			if ok {
				a.level = probe.level
				break
			}
		}
		doors = append(doors, a)
	}

	// What each door's upstream serves: the target as the client sent it
	// (Envoy forwards it so), or as nginx or Caddy forwarded it — an
	// upstream behind Caddy reads Caddy's request, never the client's.
	read := func(readings []reading, via, target, host string) ([]reading, error) {
		if p, h, ok, err := d.node.read(target, host); err != nil {
			return nil, err
		} else if ok {
			readings = append(readings, reading{"WHATWG URL (Node)" + via, method, p, h})
		}
		// A framework that decodes the path once and hands it on to a
		// WHATWG reader (a router re-parsing req.path, a redirect).
		if p, q, _ := strings.Cut(target, "?"); strings.Contains(p, "%") {
			if dp, err := url.PathUnescape(p); err == nil && dp != p {
				decoded := dp
				if q != "" {
					decoded += "?" + q
				}
				if p, h, ok, err := d.node.read(decoded, host); err != nil {
					return nil, err
				} else if ok {
					readings = append(readings, reading{"decoded once, then WHATWG URL (Node)" + via, method, p, h})
				}
			}
		}
		if sendable(target, host) {
			paths, h, ok, err := d.gomux.read(target, host)
			if err != nil {
				return nil, err
			}
			if ok {
				for _, p := range paths {
					readings = append(readings, reading{"Go net/http + ServeMux" + via, method, p, h})
				}
			}
		}
		return readings, nil
	}
	asSent, err := read(nil, "", target, host)
	if err != nil {
		return nil, err
	}
	readingsOf := func(a applied) ([]reading, error) {
		if len(a.seen) == 0 {
			return asSent, nil
		}
		var rs []reading
		for _, e := range a.seen {
			if e.NginxURI != "" {
				rs = append(rs, reading{"nginx $uri/$host", method, e.NginxURI, e.NginxHost})
			}
			if e.RequestURI == target && e.Host == host {
				rs = append(rs, asSent...)
				continue
			}
			var err error
			if rs, err = read(rs, " of the forwarded request", e.RequestURI, e.Host); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}

	var findings []string
	for _, a := range doors {
		readings, err := readingsOf(a)
		if err != nil {
			return nil, err
		}
		for _, r := range readings {
			if l := r.level(); l > a.level {
				findings = append(findings, fmt.Sprintf("%s applied a %s route to %s %q (Host %q), but %s serves %q on %q: %s",
					a.door, levelNames[a.level], method, target, host, r.reader, r.path, r.host, levelNames[l]))
			}
		}
	}
	return findings, nil
}

// corpusCase is a line of corpus.txt: a quoted target, then optionally a
// quoted host (default www.example.com) and a quoted method (default GET).
type corpusCase struct{ target, host, method string }

// loadCorpus reads testdata/differential/corpus.txt at the root.
func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	f, err := os.Open(testsupport.RepoPath(t, "testdata/differential/corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		c := corpusCase{host: "www.example.com", method: "GET"}
		rest := line
		for _, field := range []*string{&c.target, &c.host, &c.method} {
			if rest == "" {
				break
			}
			var q string
			if q, err = strconv.QuotedPrefix(rest); err != nil {
				break
			}
			if *field, err = strconv.Unquote(q); err != nil {
				break
			}
			rest = strings.TrimSpace(rest[len(q):])
		}
		if err == nil && rest != "" {
			err = fmt.Errorf("%q after the target, host and method", rest)
		}
		if err != nil {
			t.Fatalf("corpus.txt:%d: %v", n, err)
		}
		cases = append(cases, c)
	}
	return cases
}

func TestDifferential(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	d := newDifferential(t)
	cases := loadCorpus(t)
	if len(cases) < 100 {
		t.Fatalf("corpus has %d cases", len(cases))
	}
	for _, c := range cases {
		findings, err := d.check(c.method, c.target, c.host)
		if err != nil {
			t.Fatalf("%s %q %q: %v", c.method, c.target, c.host, err)
		}
		for _, f := range findings {
			t.Error(f)
		}
	}
}

// The harness can fail: a door that applied the public route to an admin
// path is a finding, and the readers are alive.
func TestDifferentialSeesAWeakerRoute(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	d := newDifferential(t)
	d.doors = append(d.doors, door{"a door that allows everything", func(string, string, string, string) (bool, *echoed, bool, error) {
		return true, nil, false, nil
	}})
	findings, err := d.check("GET", "/catalog/..\\admin/secret", "www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) == 0 || !strings.Contains(strings.Join(findings, "\n"), "WHATWG URL (Node) serves \"/admin/secret\"") {
		t.Errorf("findings: %q", findings)
	}
	findings, err = d.check("GET", "/catalog/x", "shop.example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) == 0 {
		t.Error("a public route on the admin host was not a finding")
	}
	if findings, err = d.check("GET", "/catalog/x", "www.example.com"); err != nil || len(findings) != 0 {
		t.Errorf("a public path: %q, %v", findings, err)
	}
	// The new readers: a fixpoint decoder, decode-then-WHATWG, an
	// Express-like router, and a method-less handler.
	for _, c := range []struct{ method, target, reader string }{
		{"GET", "/catalog/%25%32%65%25%32%65/admin/users", "ServeMux serves \"/catalog/%2e%2e/admin/users\""},
		{"GET", "/catalog/%252e%252e/admin/users", "decoded once, then WHATWG URL (Node) serves \"/admin/users\""},
		{"GET", "/ADMIN/users", "admin"},
		{"GET", "/billing/export/", "admin"},
		{"get", "/reports/7", "token-only"},
	} {
		findings, err := d.check(c.method, c.target, "www.example.com")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(findings, "\n"), c.reader) {
			t.Errorf("%s %s: findings %q, want one naming %s", c.method, c.target, findings, c.reader)
		}
	}
	// nginx and Caddy forward what authz allowed, and say how they read it.
	for i, want := range map[int]string{2: "/catalog/%61", 3: "/catalog/a", 4: "/catalog/%61"} {
		ok, seen, _, err := d.doors[i].ask("GET", "/catalog/%61", "www.example.com", "")
		if err != nil || !ok || seen == nil || seen.RequestURI != want {
			t.Errorf("%s: allowed %v, upstream saw %+v, %v", d.doors[i].name, ok, seen, err)
		}
		if i == 2 && (seen == nil || seen.NginxURI != "/catalog/a" || seen.NginxHost != "www.example.com") {
			t.Errorf("nginx's own reading: %+v", seen)
		}
	}
}

// FuzzDifferential runs generated targets and hosts through the same
// doors and readers; make fuzz runs it. A finding goes into corpus.txt.
func FuzzDifferential(f *testing.F) {
	corpus := loadCorpus(f)
	if fuzzing := flag.Lookup("test.fuzz"); fuzzing == nil || fuzzing.Value.String() == "" {
		// Not fuzzing: TestDifferential runs the whole corpus already;
		// a few seeds keep this target's own path tested.
		corpus = corpus[:min(len(corpus), 8)]
	}
	for _, c := range corpus {
		f.Add(c.method, c.target, c.host)
	}
	d := newDifferential(f)
	f.Fuzz(func(t *testing.T, method, target, host string) {
		if len(target) > 512 || len(host) > 128 || method == "" || len(method) > 16 || strings.ContainsAny(method, " \r\n") {
			return
		}
		findings, err := d.check(method, target, host)
		if err != nil {
			t.Fatal(err)
		}
		for _, finding := range findings {
			t.Error(finding)
		}
	})
}

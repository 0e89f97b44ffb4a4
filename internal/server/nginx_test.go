package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// nginxProfileConfig is introspectConfig as the shipped nginx recipe
// wants it: the default statuses (the recipe's error pages carry 403's
// challenge and turn error's 503 back from nginx's 500), an error's
// Retry-After, and policies named in the check URI nginx writes itself
// (auth_request never sends the client's query), so http.policy_from is query.
func nginxProfileConfig(idp *testidp.IdP) *config.Config {
	cfg := introspectConfig(idp)
	cfg.HTTP.PolicyFrom = "query"
	cfg.HTTP.Proxy = "nginx"
	cfg.Policies["orders-write"] = config.Policy{RequireScopes: []string{"orders:write"}}
	cfg.Outcomes.Error.RetryAfter = 7 * time.Second
	cfg.HTTP.ClientCertHeader = "x-ssl-client-cert"
	return cfg
}

func findNginx(t testing.TB) string {
	t.Helper()
	needsProcess(t, "nginx")
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx is not installed: run `make test` (it installs Debian's nginx-light as root) or apt-get install nginx-light")
	return ""
}

func freePort(t testing.TB) string { return testsupport.FreeAddr(t) }

// startNginx runs nginx with the shipped deploy/nginx config, pointed at
// authzAddr and backendAddr, and returns its address. It is stopped when the
// test ends, whatever happened.
func startNginx(t *testing.T, authzAddr, backendAddr string) string {
	t.Helper()
	return startNginxWith(t, authzAddr, backendAddr, "")
}

// startNginxWith is startNginx with extra directives before each
// proxy_pass to the backend (a test's own view of nginx's variables).
func startNginxWith(t testing.TB, authzAddr, backendAddr, upstreamExtra string) string {
	t.Helper()
	return startNginxRecipe(t, nginxRecipe{authz: authzAddr, backend: backendAddr, upstreamExtra: upstreamExtra, pass: "http://backend"})
}

// startNginxPassing is startNginxWith whose backend locations proxy_pass
// to pass instead of the recipe's http://backend: "http://backend$uri"
// forwards nginx's decoded, normalised path, as many deployments do.
func startNginxPassing(t testing.TB, authzAddr, backendAddr, upstreamExtra, pass string) string {
	t.Helper()
	return startNginxRecipe(t, nginxRecipe{authz: authzAddr, backend: backendAddr, upstreamExtra: upstreamExtra, pass: pass})
}

// nginxRecipe is how a test installs the shipped recipe: where authz and
// the backend are, what goes before each proxy_pass to the backend and
// where it passes, and whether the opt-in answer cache is installed.
type nginxRecipe struct {
	authz, backend, upstreamExtra, pass string
	cache                               bool
	// listen is nginx's address; "" picks a free port.
	listen string
}

func startNginxRecipe(t testing.TB, rc nginxRecipe) string {
	t.Helper()
	bin := findNginx(t)
	dir := t.TempDir()
	listen := rc.listen
	if listen == "" {
		listen = freePort(t)
	}
	// Installed as the file's comment tells users to: conf.d/ and
	// snippets/ beside nginx.conf, which includes conf.d/*.conf.
	files := []string{"conf.d/authz.conf", "snippets/authz-subrequest.conf", "snippets/authz-upstream-headers.conf", "snippets/authz-upstream-token.conf"}
	repl := []string{"127.0.0.1:8181", rc.authz, "127.0.0.1:8000", rc.backend, "listen 127.0.0.1:8080", "listen " + listen,
		"proxy_pass http://backend;", rc.upstreamExtra + "proxy_pass " + rc.pass + ";"}
	modules := ""
	if rc.cache {
		// As conf.d/authz-cache.conf tells users to install it, in the
		// test's directory instead of /etc/nginx and /run.
		files = append(files, "conf.d/authz-cache.conf", "snippets/authz-cache.conf", "njs/authz-cache.js")
		repl = append(repl, "include snippets/authz-subrequest.conf;", "include snippets/authz-subrequest.conf;\n        include snippets/authz-cache.conf;",
			"/etc/nginx/njs", filepath.Join(dir, "njs"), "/run/nginx-authz-cache", filepath.Join(dir, "cache"))
		modules = "load_module /usr/lib/nginx/modules/ngx_http_js_module.so;"
	}
	for _, name := range files {
		b := testsupport.ReadRepoFile(t, "deploy/nginx/"+name)
		s := strings.NewReplacer(repl...).Replace(string(b))
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the test's private temp dir
	}
	main := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
%[3]s
%[2]s
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  include conf.d/*.conf;
}
`, dir, user, modules)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return serveProcess(t, "nginx", cmd, listen, func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(b)
	})
}

// echoBackend answers every request with the headers it received, as JSON,
// Host among them.
func echoBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		json.NewEncoder(w).Encode(h)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type nginxReply struct {
	status   int
	header   http.Header
	upstream http.Header // what the backend saw, for a 200
}

func viaNginx(t *testing.T, addr, path string, headers map[string]string) nginxReply {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host // Go sends Host from here, not from the header map
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := nginxReply{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &r.upstream); err != nil {
			t.Fatalf("backend reply %q: %v", body, err)
		}
	}
	return r
}

func TestBehindNginx(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	h := startIntrospect(t, idp, nginxProfileConfig(idp))
	backend := echoBackend(t)
	addr := startNginx(t, h.srv.httpLn.Addr().String(), strings.TrimPrefix(backend.URL, "http://"))

	jwt := h.mint("rsa-1", h.validClaims())
	r := viaNginx(t, addr, "/items/1", map[string]string{"Authorization": "Bearer " + jwt, "X-User-Id": "mallory", "X-Username": "root", "Host": "Shop.Example"})
	if r.status != 200 {
		t.Fatalf("valid token: status %d", r.status)
	}
	if got := r.upstream.Get("Host"); got != "shop.example" {
		t.Errorf("backend saw Host %q, want the client's shop.example", got)
	}
	if got := r.upstream.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("backend saw X-User-Id %q, want exactly [alice]", got)
	}
	if got := r.upstream.Values("X-Username"); len(got) != 0 {
		t.Errorf("a client-sent X-Username reached the backend although the token has no username: %q", got)
	}
	if got := r.upstream.Get("X-Scopes"); got != "orders:read orders:write" {
		t.Errorf("backend saw X-Scopes %q", got)
	}

	opaque := h.opaque("quinn", time.Hour)
	r = viaNginx(t, addr, "/items/2", map[string]string{"Authorization": "Bearer " + opaque})
	if r.status != 200 || r.upstream.Get("X-Username") != "quinn@example.com" {
		t.Errorf("opaque token: %d, X-Username %q", r.status, r.upstream.Get("X-Username"))
	}

	r = viaNginx(t, addr, "/items/1", nil)
	if r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="authz"` {
		t.Errorf("missing: %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
	}

	// RFC 6750 through auth_request: an inactive token is a 401 with the
	// invalid_token challenge (a client refreshes), a token short of scope
	// a 403 with insufficient_scope (the recipe's error page carries it).
	revoked := h.opaque("rita", time.Hour)
	idp.Revoke(revoked)
	r = viaNginx(t, addr, "/items/1", map[string]string{"Authorization": "Bearer " + revoked})
	if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("inactive token: %d, WWW-Authenticate %q; want 401 with invalid_token", r.status, r.header.Get("WWW-Authenticate"))
	}

	readOnly := h.mint("rsa-1", h.idp.Claims("bob", time.Hour, "orders:read", "orders-api"))
	if r = viaNginx(t, addr, "/orders/7", map[string]string{"Authorization": "Bearer " + readOnly, "X-Authz-Policy": "default"}); r.status != 403 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope", scope="orders:write"`) || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("orders-write route with a read-only token: %d, WWW-Authenticate %q; want 403 with insufficient_scope", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r = viaNginx(t, addr, "/orders/7?policy=default", map[string]string{"Authorization": "Bearer " + readOnly}); r.status != 403 {
		t.Errorf("the client's own ?policy=default on the orders-write route: %d, want 403", r.status)
	}
	// Mixed spellings of claim headers never reach the backend.
	r = viaNginx(t, addr, "/items/1", map[string]string{"Authorization": "Bearer " + jwt, "X-User_Id": "mallory", "X_User-Id": "mallory"})
	for name := range r.upstream {
		if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), "x-user-id") && r.upstream.Get(name) != "alice" {
			t.Errorf("backend saw %s: %q", name, r.upstream.Get(name))
		}
	}

	// DPoP through nginx: the proof, the scheme, the host with its port
	// and the original URI reach authz; a client's own certificate header
	// does not.
	client := newDPoPClient(t)
	bound := h.validClaims()
	bound["cnf"] = map[string]any{"jkt": client.JKT}
	dpopToken := h.mint("rsa-1", bound)
	proof := func(htu string) string {
		c := proofClaims(dpopToken)
		c["htu"] = htu
		return client.Proof(c)
	}
	dpop := func(p string) map[string]string {
		return map[string]string{"Authorization": "DPoP " + dpopToken, "DPoP": p}
	}
	if r = viaNginx(t, addr, "/items/1?page=2", dpop(proof("http://"+addr+"/items/1"))); r.status != 200 {
		t.Errorf("DPoP through nginx: %d", r.status)
	}
	if r = viaNginx(t, addr, "/items/1", dpop(proof("http://"+addr+"/items/2"))); r.status != 401 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
		t.Errorf("DPoP proof for another URI through nginx: %d, WWW-Authenticate %q; want 401 invalid_dpop_proof", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r = viaNginx(t, addr, "/items/1", map[string]string{"Authorization": "Bearer " + dpopToken}); r.status != 401 {
		t.Errorf("DPoP-bound token as Bearer through nginx: %d, want 401", r.status)
	}
	// A certificate the client never presented over TLS, sent in the header
	// authz reads: the shipped snippet must overwrite it.
	stolenCert, _ := newTestCA(t).issue(t, "victim", x509.ExtKeyUsageClientAuth)
	block, _ := pem.Decode(stolenCert)
	sum := sha256.Sum256(block.Bytes)
	certBound := h.validClaims()
	certBound["cnf"] = map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
	if r = viaNginx(t, addr, "/items/1", map[string]string{"Authorization": "Bearer " + h.mint("rsa-1", certBound), "X-SSL-Client-Cert": url.QueryEscape(string(stolenCert))}); r.status != 401 {
		t.Errorf("a client-sent X-SSL-Client-Cert reached authz: %d, want 401", r.status)
	}

	idp.SetDown(true)
	r = viaNginx(t, addr, "/items/1", map[string]string{"Authorization": "Bearer " + h.opaque("sam", time.Hour)})
	// authz's 503 becomes nginx's 500, which the recipe answers as a JSON
	// 503 with authz's Retry-After: not a 401 that sends users to log in.
	if r.status != 503 || r.header.Get("WWW-Authenticate") != "" || r.header.Get("Retry-After") != "7" {
		t.Errorf("IdP down: %d (WWW-Authenticate %q, Retry-After %q), want 503 with Retry-After 7, no challenge", r.status, r.header.Get("WWW-Authenticate"), r.header.Get("Retry-After"))
	}
	idp.SetDown(false)

	// authz itself unreachable: nginx's own failure, mapped to 503.
	h.stop()
	if r = viaNginx(t, addr, "/items/1", map[string]string{"Authorization": "Bearer " + jwt}); r.status != 503 {
		t.Errorf("authz down: %d, want 503", r.status)
	}
	h.done <- nil // stop already ran; let the cleanup's stop return
}

// nginx reaches authz over a Unix-domain socket as over TCP.
func TestBehindNginxOverAUnixSocket(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "authz-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // nginx's workers must reach the socket
	idp := newIdP(t)
	cfg := nginxProfileConfig(idp)
	cfg.HTTP.Addr = "unix:" + filepath.Join(dir, "http.sock")
	h := startIntrospect(t, idp, cfg)
	backend := echoBackend(t)
	addr := startNginx(t, cfg.HTTP.Addr, strings.TrimPrefix(backend.URL, "http://"))
	r := viaNginx(t, addr, "/items/1", map[string]string{"Authorization": "Bearer " + h.mint("rsa-1", h.validClaims())})
	if r.status != 200 || r.upstream.Get("X-User-Id") != "alice" {
		t.Errorf("over the socket: %d, X-User-Id %q", r.status, r.upstream.Get("X-User-Id"))
	}
	if r = viaNginx(t, addr, "/items/1", nil); r.status != 401 {
		t.Errorf("no token over the socket: %d", r.status)
	}
}

// The recipe carries every claim header the nginx example maps, with the
// two lines its comment tells users to add for one more: a header added
// to the example without them fails here, not in production.
func TestNginxRecipeCarriesTheExampleHeaders(t *testing.T) {
	cfg, err := config.LoadOffline(testsupport.RepoPath(t, "examples/nginx-profile.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b := testsupport.ReadRepoFile(t, "deploy/nginx/snippets/authz-upstream-headers.conf")
	snippet := strings.ToLower(string(b))
	for name, p := range cfg.Policies {
		for _, header := range p.Headers {
			h := strings.ToLower(header)
			v := strings.ReplaceAll(h, "-", "_")
			if !strings.Contains(snippet, "$upstream_http_"+v+";") || !regexp.MustCompile(`(?m)^proxy_set_header `+regexp.QuoteMeta(h)+` +\$authz_`).MatchString(snippet) {
				t.Errorf("policy %s maps %s, which the nginx snippet does not carry", name, header)
			}
		}
	}
}

// The recipe runs from a checkout as it is: nginx -p deploy/nginx -c
// nginx.conf resolves every include and path against the prefix.
func TestNginxRecipeRunsFromACheckout(t *testing.T) {
	t.Parallel()
	bin := findNginx(t)
	dir := t.TempDir()
	src := testsupport.RepoPath(t, "deploy/nginx")
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-p", dir, "-c", "nginx.conf", "-e", "stderr", "-t").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Errorf("nginx -p deploy/nginx -c nginx.conf -t: %v\n%s", err, out)
	}
}

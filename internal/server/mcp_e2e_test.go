package server

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// startMCPServer runs testdata/mcp/server.mjs, the official TypeScript
// SDK's McpServer over Streamable HTTP, and returns its address.
func startMCPServer(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command(findNode(t), "server.mjs")
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- "127.0.0.1:" + port
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the MCP server: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	select {
	case listen := <-addr:
		return listen
	case <-time.After(15 * time.Second):
		t.Fatal("the MCP server printed no address")
		return ""
	}
}

// mcpClientRun is what testdata/mcp/client.mjs reports.
type mcpClientRun struct {
	Events []struct {
		Authorize *struct{ Scope, Resource string } `json:"authorize"`
		Token     *string                           `json:"token"`
	} `json:"events"`
	Tools  []string `json:"tools"`
	Result string   `json:"result"`
	Error  string   `json:"error"`
}

// A real MCP client (the official TypeScript SDK's, with an OAuth
// provider) against a real MCP server behind the shipped nginx recipe
// and authz: from the first 401 it finds the resource's metadata and the
// authorization server, asks for a token naming the resource, is refused
// for scope, follows the challenge to the scope it names, and lists and
// calls tools. The MCP server knows nothing of OAuth.
func TestMCPClientBehindNginx(t *testing.T) {
	t.Parallel()
	needsProcess(t, "node, nginx and the MCP SDK of testdata/mcp")
	dir := testsupport.RepoPath(t, "testdata/mcp")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		t.Fatalf("the MCP SDK is not installed: run `make test` (it runs npm ci in %s)", dir)
	}
	idp := newIdP(t)
	idp.AddPublicClient(testidp.PublicClient{ID: "mcp-client", RedirectURIs: []string{"http://127.0.0.1:9/callback"}, Scopes: []string{"mcp:read", "mcp:tools"}, TTL: 10 * time.Minute})
	listen := freePort(t)
	resource := "http://" + listen + "/mcp"

	cfg := nginxProfileConfig(idp)
	cfg.Issuers[0].Audiences = nil
	def := cfg.Policies["default"]
	def.RequireScopes = []string{"mcp:tools"}
	// The base scope is what the metadata offers; the challenge names
	// the one the server needs, and the client steps up to it.
	def.Resource = &config.Resource{ID: resource, AuthorizationServers: []string{idp.Issuer()}, ScopesSupported: []string{"mcp:read"}}
	cfg.Policies["default"] = def
	h := startIntrospect(t, idp, cfg)
	mcp := startMCPServer(t, dir)
	startNginxRecipe(t, nginxRecipe{authz: h.srv.httpLn.Addr().String(), backend: mcp, pass: "http://backend", listen: listen})

	arg, _ := json.Marshal(map[string]string{"url": resource, "scope": "mcp:read", "tool": "get_weather"})
	cmd := exec.Command(findNode(t), "client.mjs", string(arg))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client.mjs: %v", err)
	}
	var run mcpClientRun
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("client.mjs printed %q", out)
	}
	if run.Error != "" || strings.Join(run.Tools, ",") != "delete_repo,get_weather" || run.Result != "sunny in Oslo" {
		t.Fatalf("the MCP client: %s", out)
	}
	var scopes []string
	for _, e := range run.Events {
		if a := e.Authorize; a != nil {
			scopes = append(scopes, a.Scope)
			if a.Resource != resource {
				t.Errorf("an authorization request named resource %q, want %q (RFC 8707)", a.Resource, resource)
			}
		}
	}
	if strings.Join(scopes, " | ") != "mcp:read | mcp:tools" {
		t.Errorf("authorization requests asked for %q; want the advertised base scope, then the challenge's (step-up)", scopes)
	}
}

package server

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/testsupport"
)

// Readers of a request target that authz did not write: Node's WHATWG URL
// parser, Go's net/http with a ServeMux, and what nginx and Caddy forward.
// The differential test holds authz's decisions against their readings.

// rawReply is an HTTP answer to a request sent byte for byte.
type rawReply struct {
	status int
	header http.Header
	body   []byte
}

// sendable reports whether target can stand in an HTTP/1.1 request line
// as it is: it holds no space, CR or LF.
func sendable(target, host string) bool {
	return target != "" && !strings.ContainsAny(target, " \r\n") && !strings.ContainsAny(host, "\r\n")
}

// rawRequest sends "GET target HTTP/1.1" with host as Host (none when
// empty) to addr, with no client-side cleaning of either.
func rawRequest(addr, target, host string, headers map[string]string) (rawReply, error) {
	return rawRequestMethod(addr, "GET", target, host, headers)
}

// rawRequestMethod is rawRequest with another method, sent as it is.
func rawRequestMethod(addr, method, target, host string, headers map[string]string) (rawReply, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return rawReply{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	if host != "" {
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := c.Write(b.Bytes()); err != nil {
		return rawReply{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return rawReply{}, fmt.Errorf("read answer to %q: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return rawReply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// echoed is what the differential echo backend saw: the target and Host it
// was sent and, behind nginx, nginx's own reading ($uri, $host).
type echoed struct {
	RequestURI string `json:"request_uri"`
	Host       string `json:"host"`
	NginxURI   string `json:"nginx_uri"`
	NginxHost  string `json:"nginx_host"`
	UserID     string `json:"user_id"`
}

// differentialEcho is the upstream behind nginx and Caddy.
func differentialEcho(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoed{RequestURI: r.RequestURI, Host: r.Host,
			NginxURI: r.Header.Get("X-Echo-Uri"), NginxHost: r.Header.Get("X-Echo-Host"), UserID: r.Header.Get("X-User-Id")})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// goReader is a Go upstream: net/http and a ServeMux, as a Go service
// routes. A ServeMux answers an unclean path with a redirect: that serves
// nothing, and the request the client sends next is checked anew.
type goReader struct{ srv *httptest.Server }

func newGoReader(t testing.TB) *goReader {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "escaped": r.URL.EscapedPath(), "host": r.Host})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &goReader{srv: srv}
}

// read returns the paths and host Go serves target under; ok is false when
// Go refuses the request.
func (g *goReader) read(target, host string) (paths []string, servedHost string, ok bool, err error) {
	r, err := rawRequest(strings.TrimPrefix(g.srv.URL, "http://"), target, host, nil)
	if err != nil {
		return nil, "", false, err
	}
	if r.status != http.StatusOK {
		return nil, "", false, nil
	}
	var got map[string]string
	if err := json.Unmarshal(r.body, &got); err != nil {
		return nil, "", false, fmt.Errorf("go reader answer %q: %w", r.body, err)
	}
	return []string{got["path"], got["escaped"]}, got["host"], true, nil
}

// nodeReader runs Node's WHATWG URL parser over targets, one process for
// the whole test.
type nodeReader struct {
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Scanner
}

func findNode(t testing.TB) string {
	t.Helper()
	needsProcess(t, "node")
	for _, name := range []string{"node", "nodejs"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("node is not installed: run `make test` (it installs Debian's nodejs as root) or apt-get install nodejs")
	return ""
}

func newNodeReader(t testing.TB) *nodeReader {
	t.Helper()
	cmd := exec.Command(findNode(t), testsupport.RepoPath(t, "testdata/differential/whatwg.js"))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return &nodeReader{in: in, out: sc}
}

// read returns the pathname and hostname Node reads from target and host,
// as a Node server is handed them (bytes as latin1); ok is false when the
// URL does not parse.
func (n *nodeReader) read(target, host string) (path, servedHost string, ok bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	q, _ := json.Marshal(map[string]string{
		"target": base64.StdEncoding.EncodeToString([]byte(target)),
		"host":   base64.StdEncoding.EncodeToString([]byte(host)),
	})
	if _, err := n.in.Write(append(q, '\n')); err != nil {
		return "", "", false, fmt.Errorf("node: %w", err)
	}
	if !n.out.Scan() {
		return "", "", false, fmt.Errorf("node stopped: %v", n.out.Err())
	}
	var a struct{ Path, Host, Error string }
	if err := json.Unmarshal(n.out.Bytes(), &a); err != nil {
		return "", "", false, fmt.Errorf("node answer %q: %w", n.out.Bytes(), err)
	}
	if a.Error != "" {
		return "", "", false, nil
	}
	return a.Path, a.Host, true, nil
}

func findCaddy(t testing.TB) string {
	t.Helper()
	needsProcess(t, "caddy")
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	t.Fatal("caddy is not installed: run `make test` (it installs Debian's caddy as root) or apt-get install caddy")
	return ""
}

// startCaddy runs Caddy with the shipped deploy/caddy/Caddyfile, pointed
// at authzAddr and backendAddr, and returns its address.
func startCaddy(t testing.TB, authzAddr, backendAddr string) string {
	t.Helper()
	bin := findCaddy(t)
	dir := t.TempDir()
	listen := freePort(t)
	b := testsupport.ReadRepoFile(t, "deploy/caddy/Caddyfile")
	_, port, _ := net.SplitHostPort(listen)
	conf := strings.NewReplacer("127.0.0.1:8181", authzAddr, "127.0.0.1:8000", backendAddr, ":8080 {", "http://:"+port+" {\n\tbind 127.0.0.1").Replace(string(b))
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	return serveProcess(t, "caddy", cmd, listen, logs.String)
}

// serveProcess starts cmd (an nginx, a Caddy) in a process group of its
// own, stops it when the test ends (SIGTERM, SIGKILL after 5s), shows
// log() if the test failed, and returns listen once it accepts.
func serveProcess(t testing.TB, name string, cmd *exec.Cmd, listen string, log func() string) string {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, log())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start listening on %s:\n%s", name, listen, log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

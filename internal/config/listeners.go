package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authz-dev/authz/internal/proxyprofile"
)

// GRPC is the Envoy ext_authz listener.
type GRPC struct {
	// Addr is host:port, or unix:PATH for a Unix-domain socket.
	Addr       string `yaml:"addr"`
	TLS        TLS    `yaml:"tls"`
	Reflection bool   `yaml:"reflection"`
	// ShutdownDelay: on SIGTERM, health and /readyz report not serving
	// at once, but both doors go on answering this long, while load
	// balancers and Kubernetes endpoints stop sending (default 0).
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// ShutdownGrace then bounds how long in-flight Checks may finish, at
	// both doors alike, before connections are closed (default 15s).
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
}

// TLS enables TLS with CertFile and KeyFile, and mTLS with ClientCAFile.
type TLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// HTTP is the listener for forward auth (/check), /healthz, /readyz and /metrics.
type HTTP struct {
	// Addr is host:port, or unix:PATH for a Unix-domain socket.
	Addr string `yaml:"addr"`
	// CheckPath is the forward-auth endpoint (the door's default: /check);
	// requests under CheckPath/ are Envoy's path-prefix mode.
	CheckPath string `yaml:"check_path"`
	// AllowStatus answers an allow (200 or 204; the answers' default: 200).
	AllowStatus int `yaml:"allow_status"`
	// Pprof serves /debug/pprof/ on this listener. Off by default: profiles
	// reveal internals and cost CPU while taken.
	Pprof bool `yaml:"pprof"`
	// Proxy names the proxy in front of the forward-auth door: nginx
	// (default, the shipped recipe), traefik, caddy or envoy (http_service,
	// path-prefix mode). The door reads the method, target, host and scheme
	// from that proxy's headers only (docs/forward-auth.md has the table).
	Proxy string `yaml:"proxy"`
	// PolicyFrom says where a forward-auth request may name its policy:
	// header (X-Authz-Policy, the door's default), query (?policy= on the
	// exact check path only) or none. Whichever it is, the proxy's config
	// must write it.
	PolicyFrom string `yaml:"policy_from"`
	// ClientCertHeader names the header in which the proxy passes the
	// client certificate as URL-encoded PEM (nginx: $ssl_client_escaped_cert),
	// for certificate-bound tokens (RFC 8705).
	ClientCertHeader string `yaml:"client_cert_header"`
	// TrustXFCC reads the client certificate's hash from
	// x-forwarded-client-cert: only behind a proxy that sets it afresh.
	TrustXFCC bool `yaml:"trust_xfcc"`
	// ProxyCacheMax bounds how long the proxy may keep an answer that
	// read nothing but the token (X-Accel-Expires, for nginx's
	// proxy_cache: deploy/nginx/snippets/authz-cache.conf); 0 (default)
	// tells it to keep none.
	ProxyCacheMax time.Duration `yaml:"proxy_cache_max"`
	// Timeouts of the HTTP and admin listeners: reading a whole request
	// (default 10s), writing an answer (default 60s, above a 30s pprof
	// profile) and keeping an idle keep-alive connection (default 60s).
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
}

// Admin is the listener for POST /admin/purge. It is off unless Addr is
// set, and must be loopback unless it demands client certificates.
type Admin struct {
	Addr string `yaml:"addr"`
	TLS  TLS    `yaml:"tls"`
}

// ListenerOff, as a listener's addr, turns the listener off.
const ListenerOff = "off"

// Default listen addresses: loopback. A listener on every interface
// exposes the Check API (and /metrics) to whatever reaches the host or pod;
// a sidecar needs loopback only, and a shared service says so (":9191", as
// the Helm chart and deploy/envoy/kubernetes.yaml do).
const (
	DefaultGRPCAddr = "127.0.0.1:9191"
	DefaultHTTPAddr = "127.0.0.1:8181"
)

// emptyAddr stands for an addr written empty in the file: not the same as
// leaving the key out (the default), and not off either, so it is refused.
const emptyAddr = "\x00empty"

// markEmptyAddrs marks the listener addresses the file writes as empty.
func markEmptyAddrs(cfg *Config, root *yaml.Node) {
	fields := map[string]*string{"grpc.addr": &cfg.GRPC.Addr, "http.addr": &cfg.HTTP.Addr}
	walkValues(document(root), nil, func(p []string, _, v *yaml.Node) bool {
		if f, ok := fields[strings.Join(p, ".")]; ok && v.Kind == yaml.ScalarNode && *f == "" {
			*f = emptyAddr
		}
		return false
	})
}

// Enabled reports whether the gRPC listener is on.
func (g GRPC) Enabled() bool { return g.Addr != ListenerOff }

// Enabled reports whether the HTTP listener is on.
func (h HTTP) Enabled() bool { return h.Addr != ListenerOff }

func (g *GRPC) setDefaults() {
	setDefault(&g.Addr, DefaultGRPCAddr)
	setDefault(&g.ShutdownGrace, 15*time.Second)
}

// listenAddrProblem is validListenAddr for a listener that may be off.
func listenAddrProblem(section, addr string) string {
	switch addr {
	case ListenerOff:
		return ""
	case emptyAddr:
		def := map[string]string{"grpc": DefaultGRPCAddr, "http": DefaultHTTPAddr}[section]
		return fmt.Sprintf("is empty: leave the key out for the default (%s, loopback only), write off to turn the listener off, or give host:port", def)
	}
	return validListenAddr(addr)
}

// validListenAddr reports what is wrong with a listen address: host:port
// (the host may be empty, the port 0..65535) or unix:PATH.
func validListenAddr(addr string) string {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return "unix: needs a socket path"
		}
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		// Only a bare port number is worth the hint: ":off" is no better.
		if n, err := strconv.Atoi(addr); err == nil && n >= 0 && n <= 65535 {
			return fmt.Sprintf("%q is not host:port (write :%s to listen on every address, 127.0.0.1:%s on loopback only)", addr, addr, addr)
		}
		return fmt.Sprintf("%q is not host:port or unix:PATH (like 127.0.0.1:9191, :9191 or unix:/run/authz.sock)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil {
		return fmt.Sprintf("port %q is not a number", port)
	} else if n < 0 || n > 65535 {
		return fmt.Sprintf("port %d is not 0-65535", n)
	}
	return ""
}

// validateListener checks a listener's address and TLS files, the keys
// named under section ("grpc", "admin").
func validateListener(p *problems, section, addr string, t TLS) {
	if addr == ListenerOff {
		return
	}
	if msg := listenAddrProblem(section, addr); msg != "" {
		p.add(section+".addr", "%s", msg)
	}
	p.file(t.CertFile, section+".tls.cert_file")
	p.file(t.KeyFile, section+".tls.key_file")
	p.file(t.ClientCAFile, section+".tls.client_ca_file")
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add(section+".tls", "cert_file and key_file go together")
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		p.add(section+".tls.client_ca_file", "needs cert_file and key_file: without them the listener would serve plain HTTP")
	}
}

func (g *GRPC) validate(p *problems) {
	validateListener(p, "grpc", g.Addr, g.TLS)
	if g.ShutdownDelay < 0 || g.ShutdownGrace < 0 {
		p.add("grpc", "shutdown_delay and shutdown_grace must not be negative")
	}
}

func (h *HTTP) setDefaults() {
	setDefault(&h.Addr, DefaultHTTPAddr)
	setDefault(&h.ReadTimeout, 10*time.Second)
	setDefault(&h.WriteTimeout, 60*time.Second)
	setDefault(&h.IdleTimeout, 60*time.Second)
}

func (h *HTTP) validate(p *problems) {
	if msg := listenAddrProblem("http", h.Addr); msg != "" {
		p.add("http.addr", "%s", msg)
	}
	if h.AllowStatus != 0 && h.AllowStatus != 200 && h.AllowStatus != 204 {
		p.add("http.allow_status", "%d: use 200 or 204", h.AllowStatus)
	}
	if h.CheckPath != "" && (!strings.HasPrefix(h.CheckPath, "/") || strings.HasSuffix(h.CheckPath, "/") || slices.Contains([]string{"/healthz", "/readyz", "/metrics"}, h.CheckPath)) {
		p.add("http.check_path", "%q: a path like /check, not ending in / and not /healthz, /readyz or /metrics", h.CheckPath)
	}
	if _, err := proxyprofile.For(h.Proxy); err != nil {
		p.add("http.proxy", "%v", err)
	}
	if _, err := proxyprofile.ParsePolicyFrom(h.PolicyFrom); err != nil {
		p.add("http.policy_from", "%v", err)
	}
	switch {
	case h.ProxyCacheMax < 0:
		p.add("http.proxy_cache_max", "must not be negative")
	case h.ProxyCacheMax > 0 && h.ProxyCacheMax < time.Second:
		p.add("http.proxy_cache_max", "%s: X-Accel-Expires counts whole seconds; use 1s or more, or 0 (off)", h.ProxyCacheMax)
	case h.ProxyCacheMax > time.Minute:
		p.warn("http.proxy_cache_max", "%s: a revoked token passes the proxy's cache for up to this long, and authz purge does not reach it", h.ProxyCacheMax)
	}
	if h.TrustXFCC && h.ClientCertHeader != "" {
		p.warn("http.trust_xfcc", "set beside http.client_cert_header: when the proxy sends no certificate in %s, "+
			"authz falls back to x-forwarded-client-cert, which a client can write unless the proxy clears it; one proxy sets one of them: keep one",
			h.ClientCertHeader)
	}
	if h.AllowStatus == 204 && h.Proxy == proxyprofile.Envoy {
		p.warn("http.allow_status", "204 behind Envoy's HTTP ext_authz: Envoy treats only 200 as OK and answers every other status to the client itself, "+
			"so every allow would become a 204 with no upstream; use 200")
	}
	if h.ReadTimeout < 0 || h.WriteTimeout < 0 || h.IdleTimeout < 0 {
		p.add("http", "read_timeout, write_timeout and idle_timeout must not be negative")
	}
}

// Enabled reports whether the admin listener is on (it is off unless set).
func (a Admin) Enabled() bool { return a.Addr != "" && a.Addr != ListenerOff }

func (a *Admin) validate(p *problems) {
	if !a.Enabled() {
		return
	}
	validateListener(p, "admin", a.Addr, a.TLS)
	if !isLoopback(a.Addr) && (a.TLS.ClientCAFile == "" || a.TLS.CertFile == "" || a.TLS.KeyFile == "") {
		p.add("admin.addr", "%q is not a loopback address: set admin.tls cert_file, key_file and client_ca_file (mTLS) to expose purge", a.Addr)
	}
}

// isLoopback reports whether addr (host:port) listens on loopback only; a
// Unix-domain socket ("unix:PATH") is reachable from this host only too.
func isLoopback(addr string) bool {
	if strings.HasPrefix(addr, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateListeners checks what the listeners being off takes away.
func (c *Config) validateListeners(p *problems) {
	switch {
	case !c.GRPC.Enabled() && !c.HTTP.Enabled():
		p.add("grpc.addr", "both grpc and http are off: nothing would answer a proxy")
	case !c.HTTP.Enabled() && c.UpstreamTokens.Enabled():
		p.warn("http.addr", "off, with upstream_tokens: authz serves no /.well-known/jwks.json, so upstreams must get its public keys elsewhere (upstream_tokens.jwks_uri)")
	case !c.HTTP.Enabled():
		p.warn("http.addr", "off: no /healthz, /readyz or /metrics (gRPC health still answers on the gRPC listener)")
	}
}

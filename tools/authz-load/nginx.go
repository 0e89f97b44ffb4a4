package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/authz-dev/authz/internal/testidp"
)

// nginxOptions configure `authz-load nginx`: the seed's nginx+njs design,
// authz's /check door and a zero-work door behind the same nginx, under
// the same load.
type nginxOptions struct {
	authzBin, benchDir      string
	deployDir               string
	duration, herd, tailRun time.Duration
	cpuRun                  time.Duration
	cpuProfile              string
	cpuOnly                 bool
	rounds                  int
	tailRates               string
}

func runNginx(args []string, out io.Writer) int {
	var o nginxOptions
	fs := flag.NewFlagSet("authz-load nginx", flag.ExitOnError)
	fs.StringVar(&o.authzBin, "authz", "bin/authz", "authz binary to start")
	fs.StringVar(&o.benchDir, "bench", "bench/nginx", "the nginx templates' directory (seed.conf.in, introspect.js, door.conf.in)")
	fs.StringVar(&o.deployDir, "deploy", "deploy/nginx", "the shipped nginx recipe (the answer cache's files)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "one wrk run")
	fs.DurationVar(&o.tailRun, "tail-duration", 10*time.Second, "one open-loop run at a fixed rate")
	fs.StringVar(&o.tailRates, "tail-rates", "0.25,0.5,0.75", "open-loop rates, as fractions of the zero-work door's wrk throughput")
	fs.DurationVar(&o.herd, "herd", 32*time.Second, "the run that counts IdP calls, with a 10 s cache")
	fs.DurationVar(&o.cpuRun, "cpu-duration", 5*time.Second, "one run of the CPU-per-answer measure")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of authz over the first CPU-per-answer run to this file")
	fs.BoolVar(&o.cpuOnly, "cpu-only", false, "measure only the CPU per answer (with -cpu-profile: where a /check's CPU goes)")
	fs.IntVar(&o.rounds, "rounds", 2, "alternating rounds")
	fs.Parse(args)
	if err := benchNginx(o, out); err != nil {
		fmt.Fprintf(os.Stderr, "authz-load nginx: %v\n", err)
		return 1
	}
	return 0
}

// target is one nginx in front of the echo upstream.
type target struct {
	name string
	url  string
}

func benchNginx(o nginxOptions, out io.Writer) error {
	for _, bin := range []string{"nginx", "wrk"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed (make bench-nginx installs nginx-light, libnginx-mod-http-js and wrk as root)", bin)
		}
	}
	var rates []float64
	for _, f := range strings.Split(o.tailRates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return fmt.Errorf("-tail-rates: %q is not a fraction", f)
		}
		rates = append(rates, r)
	}
	bench, err := filepath.Abs(o.benchDir)
	if err != nil {
		return err
	}
	idp, err := testidp.New()
	if err != nil {
		return err
	}
	defer idp.Close()
	dir, err := os.MkdirTemp("", "authz-bench-nginx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // nginx's workers reach the authz socket
	token := idp.IssueOpaque(idp.Claims("bench-user", time.Hour, "orders:read", "orders-api"))

	var targets []target
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	zeroDoor, err := startZeroDoor(bench, dir)
	if err != nil {
		return fmt.Errorf("zero-work door: %w", err)
	}
	stops = append(stops, zeroDoor.stop)
	if o.cpuOnly {
		return cpuPerCheck(out, o, dir, idp, zeroDoor, token)
	}
	targets = append(targets, target{"zero-work door (nginx 204)", zeroDoor.url})
	seedURL, stop, err := startSeed(bench, dir, idp)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	stops = append(stops, stop)
	targets = append(targets, target{"seed: nginx+njs+proxy_cache", seedURL})
	// authz: the introspection endpoint, a 10 s cache like the seed's, the
	// nginx profile; one instance on TCP, one on a Unix socket.
	// And one over TCP with the opt-in answer cache
	// (deploy/nginx/snippets/authz-cache.conf, http.proxy_cache_max 10s,
	// the seed's cache time).
	for _, transport := range []string{"tcp", "uds", "tcp+cache"} {
		httpAddr := freeAddr()
		if transport == "uds" {
			httpAddr = "unix:" + filepath.Join(dir, "authz-http.sock")
		}
		cached := transport == "tcp+cache"
		p, err := startAuthzDoor(o.authzBin, dir, transport, idp, httpAddr, cached, "", false)
		if err != nil {
			return err
		}
		stops = append(stops, p.stop)
		var r doorExtras
		if cached {
			if r, err = cacheExtras(o.deployDir, dir); err != nil {
				return err
			}
		}
		url, stop, err := startDoorNginx(bench, dir, transport, httpAddr, "/check", r)
		if err != nil {
			return fmt.Errorf("authz door (%s): %w", transport, err)
		}
		stops = append(stops, stop)
		name := "authz /check over " + transport
		if cached {
			name = "authz /check over tcp, nginx cache snippet"
		}
		targets = append(targets, target{name, url})
	}
	// What Caddy's forward_auth users get: the shipped Caddyfile in a real
	// Caddy, in front of an nginx backend like the others', authz over TCP
	// with the caddy profile. Skipped when caddy is not installed.
	if _, err := exec.LookPath("caddy"); err == nil {
		url, stop, err := startCaddyDoor(o, bench, dir, idp)
		if err != nil {
			return fmt.Errorf("caddy: %w", err)
		}
		stops = append(stops, stop)
		targets = append(targets, target{"Caddy forward_auth, authz over tcp", url})
	}
	const zero, seedAt = 0, 1

	fmt.Fprintf(out, "# closed loop: wrk -t2 -c50 %v per run, %d alternating rounds, one cached opaque token\n", o.duration, o.rounds)
	results := make([][]wrkResult, len(targets))
	for _, t := range targets {
		if _, err := wrk(t.url, token, 2*time.Second); err != nil { // warm caches and keep-alives
			return err
		}
	}
	for range o.rounds {
		for i, t := range targets {
			r, err := wrk(t.url, token, o.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			results[i] = append(results[i], r)
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50\tp99\treq/s vs seed\tp99 vs seed\tnon-2xx\t")
	base := merged(results[seedAt])
	for i, t := range targets {
		m := merged(results[i])
		fmt.Fprintf(tw, "%s\t%.0f\t%.2fms\t%.2fms\t%.2f\t%.2f\t%d\t\n", t.name, m.rps, m.p50, m.p99, m.rps/base.rps, m.p99/base.p99, m.non2xx)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// The rates are fractions of the zero-work door's capacity as wrk
	// measured it; the generator's own ceiling (closed loop against the
	// same door) is printed beside them, and a rate above it is marked:
	// there the tail is the generator's.
	capacity := merged(results[zero]).rps
	ceiling := closedLoopRaw(targets[zero].url, token, 50, o.tailRun)
	fmt.Fprintf(out, "\n# open loop: Poisson arrivals at fixed rates, fractions of the zero-work door's wrk throughput (%.0f req/s); the generator's own ceiling against that door %.0f req/s (closed loop, 50 connections); %v per run, latency from when each request was due\n", capacity, ceiling, o.tailRun)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rate\ttarget\tp50\tp99\tp99.9\tmax\tp99 vs zero-work\tp99 vs seed\tfailed\t")
	for _, frac := range rates {
		rate := frac * capacity
		label := fmt.Sprintf("%.0f/s (%.0f%%)", rate, frac*100)
		if rate > ceiling {
			label += " over the generator's ceiling"
		}
		tails := make([]result, len(targets))
		for i, t := range targets {
			tails[i] = openLoopRaw(t.url, token, rate, o.tailRun)
		}
		for i, t := range targets {
			r := tails[i]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%d\t\n", label, t.name, ms(r.pct(0.5)), ms(r.pct(0.99)), ms(r.pct(0.999)), ms(r.pct(1)),
				float64(r.pct(0.99))/float64(tails[zero].pct(0.99)), float64(r.pct(0.99))/float64(tails[seedAt].pct(0.99)), r.failures)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if err := cpuPerCheck(out, o, dir, idp, zeroDoor, token); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n# IdP calls for one new token under wrk for %v (10 s caches)\n", o.herd)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tIdP calls\t")
	for i, t := range targets[seedAt:] {
		// A token the target has not seen, so every expiry in the run counts.
		fresh := idp.IssueOpaque(idp.Claims(fmt.Sprintf("herd-%d", i), time.Hour, "orders:read", "orders-api"))
		before := idp.Introspections()
		if _, err := wrk(t.url, fresh, o.herd); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t\n", t.name, idp.Introspections()-before)
	}
	return tw.Flush()
}

// ordersConns are one raw connection per worker, each sending GET
// /api/orders with the token to the target at url.
func ordersConns(url, token string, n int) []*rawConn {
	host := strings.TrimPrefix(url, "http://")
	req := newRequest(host, "/api/orders", "Authorization: Bearer "+token)
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = &rawConn{addr: host, req: req, timeout: 5 * time.Second}
	}
	return conns
}

// closedLoopRaw is the throughput of workers sending GET /api/orders
// back to back for d through the open-loop generator's own client: its
// ceiling.
func closedLoopRaw(url, token string, workers int, d time.Duration) float64 {
	conns := ordersConns(url, token, workers)
	var n atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			for time.Now().Before(end) {
				if status, err := c.do(); err == nil && status == http.StatusOK {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// openLoopRaw offers GET /api/orders with the token at rate for d, each
// generator worker on its own keep-alive connection.
func openLoopRaw(url, token string, rate float64, d time.Duration) result {
	conns := ordersConns(url, token, openLoopWorkers)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	return openLoop(rate, d, func(_ context.Context, w int, _ uint64) bool {
		status, err := conns[w].do()
		return err == nil && status == http.StatusOK
	})
}

// wrkResult is one wrk run's throughput and latency (ms).
type wrkResult struct {
	rps, p50, p99 float64
	non2xx        int64
}

// merged averages runs: throughput by mean, latencies by their mean too
// (wrk reports percentiles per run, not the samples).
func merged(rs []wrkResult) wrkResult {
	var m wrkResult
	for _, r := range rs {
		m.rps += r.rps / float64(len(rs))
		m.p50 += r.p50 / float64(len(rs))
		m.p99 += r.p99 / float64(len(rs))
		m.non2xx += r.non2xx
	}
	return m
}

// wrk runs the closed-loop load: GET /api/orders with the token, two
// threads, 50 connections.
func wrk(url, token string, d time.Duration) (wrkResult, error) {
	return wrkAt(url+"/api/orders", d, 2, 50, "Authorization: Bearer "+token)
}

// wrkAt runs wrk against target with the headers.
func wrkAt(target string, d time.Duration, threads, conns int, headers ...string) (wrkResult, error) {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	cmd := exec.Command("wrk", append(args, target)...)
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v: %s", err, outb)
	}
	var r wrkResult
	sc := bufio.NewScanner(strings.NewReader(string(outb)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.rps, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "50%":
			r.p50 = wrkMillis(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.p99 = wrkMillis(f[1])
		case len(f) >= 4 && f[0] == "Non-2xx":
			r.non2xx, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	if r.rps == 0 {
		return r, fmt.Errorf("no result in wrk's output: %s", outb)
	}
	return r, nil
}

// wrkMillis reads wrk's "1.23ms", "850.00us" or "1.02s" as milliseconds.
func wrkMillis(s string) float64 {
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"us", 0.001}, {"ms", 1}, {"s", 1000}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f * u.scale
		}
	}
	return 0
}

// startSeed renders seed.conf.in against the IdP and starts it.
func startSeed(bench, dir string, idp *testidp.IdP) (string, func(), error) {
	run := filepath.Join(dir, "seed")
	listen, backend := freeAddr(), freeAddr()
	return startNginxConf(run, filepath.Join(bench, "seed.conf.in"), listen, strings.NewReplacer(
		"@RUN@", run, "@JS@", bench, "@LISTEN@", listen, "@BACKEND@", backend,
		"@IDP@", strings.TrimPrefix(idp.Issuer(), "http://"), "@IDP_PATH@", "/introspect",
		"@IDP_BASIC@", base64.StdEncoding.EncodeToString([]byte("authz:s3cret")),
	))
}

// doorExtras are what door.conf.in takes beyond its door: the main
// context, the http block and the auth location.
type doorExtras struct{ main, http, auth string }

// startDoorNginx renders door.conf.in: auth_request to auth (an address
// or unix:path) at path, with the extras.
func startDoorNginx(bench, dir, name, auth, path string, x doorExtras) (string, func(), error) {
	run := filepath.Join(dir, "door-"+name)
	listen, backend := freeAddr(), freeAddr()
	return startNginxConf(run, filepath.Join(bench, "door.conf.in"), listen, strings.NewReplacer(
		"@RUN@", run, "@LISTEN@", listen, "@BACKEND@", backend, "@AUTH@", auth, "@AUTH_PATH@", path,
		"@EXTRA@", x.http, "@MAIN@", x.main, "@AUTH_EXTRA@", x.auth,
	))
}

// cacheExtras are the shipped answer cache (deploy/nginx): its http-level
// file and njs key in the run directory, its snippet in the auth location.
func cacheExtras(deploy, dir string) (doorExtras, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(deploy, name))
		return string(b), err
	}
	httpConf, err := read("conf.d/authz-cache.conf")
	if err != nil {
		return doorExtras{}, err
	}
	snippet, err := read("snippets/authz-cache.conf")
	if err != nil {
		return doorExtras{}, err
	}
	njs, err := filepath.Abs(filepath.Join(deploy, "njs"))
	if err != nil {
		return doorExtras{}, err
	}
	r := strings.NewReplacer("/etc/nginx/njs", njs, "/run/nginx-authz-cache", filepath.Join(dir, "answer-cache"))
	return doorExtras{main: "load_module /usr/lib/nginx/modules/ngx_http_js_module.so;", http: r.Replace(httpConf), auth: snippet}, nil
}

// zeroDoor is door.conf.in answered by a server of the same nginx that
// returns 204 and does nothing else: the floor any external auth step
// sits on, and, asked directly at addr, the physical reference for a small
// answer on a keep-alive connection.
type zeroDoor struct {
	*nginxRun
	addr string // the 204 server
}

func startZeroDoor(bench, dir string) (*zeroDoor, error) {
	zero := freeAddr()
	run := filepath.Join(dir, "door-zero")
	listen, backend := freeAddr(), freeAddr()
	n, err := startNginxRun(run, filepath.Join(bench, "door.conf.in"), listen, strings.NewReplacer(
		"@RUN@", run, "@LISTEN@", listen, "@BACKEND@", backend, "@AUTH@", zero, "@AUTH_PATH@", "/",
		"@EXTRA@", "    server { listen "+zero+"; location / { return 204; } }\n", "@MAIN@", "", "@AUTH_EXTRA@", "",
	))
	if err != nil {
		return nil, err
	}
	return &zeroDoor{nginxRun: n, addr: zero}, nil
}

// nginxRun is one nginx master and its workers.
type nginxRun struct {
	url string
	cmd *exec.Cmd
}

func (n *nginxRun) stop() { n.cmd.Process.Signal(os.Interrupt); n.cmd.Wait() }

// cpu is the CPU time of the master and its workers so far.
func (n *nginxRun) cpu() time.Duration {
	master := n.cmd.Process.Pid
	total := procCPU(master)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && parentOf(pid) == master {
			total += procCPU(pid)
		}
	}
	return total
}

func startNginxConf(run, template, listen string, r *strings.Replacer) (string, func(), error) {
	n, err := startNginxRun(run, template, listen, r)
	if err != nil {
		return "", nil, err
	}
	return n.url, n.stop, nil
}

func startNginxRun(run, template, listen string, r *strings.Replacer) (*nginxRun, error) {
	if err := os.MkdirAll(filepath.Join(run, "tmp"), 0o755); err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(template)
	if err != nil {
		return nil, err
	}
	conf := r.Replace(string(tmpl))
	if os.Geteuid() == 0 {
		conf = "user root;\n" + conf // workers must reach the run dir and the socket
	}
	path := filepath.Join(run, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("nginx", "-p", run, "-c", path, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &nginxRun{url: "http://" + listen, cmd: cmd}
	if err := waitTCP(listen, 5*time.Second); err != nil {
		n.stop()
		errlog, _ := os.ReadFile(filepath.Join(run, "error.log"))
		return nil, fmt.Errorf("nginx did not start: %v\n%s", err, errlog)
	}
	return n, nil
}

// doorConfig is authz behind nginx: introspection at the IdP, a 10 s cache
// like the seed's, the nginx status profile.
const doorConfig = `
grpc: { addr: "%s" }
http: { addr: "%s" }
cache: { ttl: 10s, negative_ttl: 10s }
introspection:
  - name: idp
    endpoint: %s/introspect
    client_id: authz
    client_secret: s3cret
outcomes:
  invalid: { status: 403 }
  error: { status: 401 }
log: { level: warn }
policies:
  default:
    headers: { sub: x-user-id, client_id: x-client-id, scope: x-scopes }
`

func startAuthzDoor(bin, dir, name string, idp *testidp.IdP, httpAddr string, proxyCache bool, profile string, pprof bool) (*proc, error) {
	grpcAddr := freeAddr()
	path := filepath.Join(dir, "authz-"+name+".yaml")
	conf := fmt.Sprintf(doorConfig, grpcAddr, httpAddr, idp.Issuer())
	if profile != "" {
		conf = strings.Replace(conf, "http: { addr: \""+httpAddr+"\" }", "http: { addr: \""+httpAddr+"\", proxy: "+profile+" }", 1)
	}
	if proxyCache {
		conf = strings.Replace(conf, "http: { addr: \""+httpAddr+"\" }", "http: { addr: \""+httpAddr+"\", proxy_cache_max: 10s }", 1)
	}
	if pprof {
		conf = strings.Replace(conf, "http: { addr: \""+httpAddr+"\" }", "http: { addr: \""+httpAddr+"\", pprof: true }", 1)
	}
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return startProc("authz-"+name, grpcAddr, bin, "serve", "-config", path)
}

// waitTCP returns once addr accepts connections, or after d.
func waitTCP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startCaddyDoor runs authz with the caddy profile and the shipped
// deploy/caddy/Caddyfile in front of a backend nginx serving what
// door.conf.in's backend serves.
func startCaddyDoor(o nginxOptions, bench, dir string, idp *testidp.IdP) (string, func(), error) {
	httpAddr := freeAddr()
	p, err := startAuthzDoor(o.authzBin, dir, "caddy", idp, httpAddr, false, "caddy", false)
	if err != nil {
		return "", nil, err
	}
	backendRun := filepath.Join(dir, "caddy-backend")
	backend := freeAddr()
	tmpl := filepath.Join(dir, "caddy-backend.conf.in")
	conf := "worker_processes 1;\npid @RUN@/nginx.pid;\nerror_log @RUN@/error.log warn;\nevents { worker_connections 4096; }\n" +
		"http { access_log off; client_body_temp_path @RUN@/tmp/body; proxy_temp_path @RUN@/tmp/proxy; fastcgi_temp_path @RUN@/tmp/fastcgi; uwsgi_temp_path @RUN@/tmp/uwsgi; scgi_temp_path @RUN@/tmp/scgi;\n" +
		"  server { listen @LISTEN@; default_type text/plain; location / { return 200 \"sub=$http_x_user_id\\n\"; } } }\n"
	if err := os.WriteFile(tmpl, []byte(conf), 0o644); err != nil {
		p.stop()
		return "", nil, err
	}
	_, stopBackend, err := startNginxConf(backendRun, tmpl, backend, strings.NewReplacer("@RUN@", backendRun, "@LISTEN@", backend))
	if err != nil {
		p.stop()
		return "", nil, err
	}
	caddyfile, err := os.ReadFile(filepath.Join(o.deployDir, "..", "caddy", "Caddyfile"))
	if err != nil {
		p.stop()
		stopBackend()
		return "", nil, err
	}
	listen := freeAddr()
	_, port, _ := net.SplitHostPort(listen)
	file := filepath.Join(dir, "Caddyfile")
	text := strings.NewReplacer("127.0.0.1:8181", httpAddr, "127.0.0.1:8000", backend, ":8080 {", "http://:"+port+" {\n\tbind 127.0.0.1").Replace(string(caddyfile))
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		p.stop()
		stopBackend()
		return "", nil, err
	}
	cmd := exec.Command("caddy", "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	if err := cmd.Start(); err != nil {
		p.stop()
		stopBackend()
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait(); stopBackend(); p.stop() }
	if err := waitTCP(listen, 10*time.Second); err != nil {
		stop()
		return "", nil, fmt.Errorf("caddy did not start: %w", err)
	}
	return "http://" + listen, stop, nil
}

// cpuPerCheck prints authz's own CPU per cached /check, asked directly
// (no nginx in between) with the headers the nginx recipe sends, beside
// nginx's CPU per 204 from the zero-work door's answering server under
// the same load: the physical reference for a small answer on a
// keep-alive connection. Both from the processes' own rusage over the run.
func cpuPerCheck(out io.Writer, o nginxOptions, dir string, idp *testidp.IdP, zero *zeroDoor, token string) error {
	addr := freeAddr()
	p, err := startAuthzDoor(o.authzBin, dir, "cpu", idp, addr, false, "", o.cpuProfile != "")
	if err != nil {
		return err
	}
	defer p.stop()
	p.httpAddr = addr
	headers := []string{
		"X-Original-Method: GET", "X-Original-URI: /api/orders",
		"X-Forwarded-Host: " + addr, "X-Forwarded-Proto: http",
		"Authorization: Bearer " + token,
	}
	profiled := o.cpuProfile == ""
	measure := func(target string, cpu func() time.Duration) (float64, float64, error) {
		if _, err := wrkAt(target, time.Second, 1, 20, headers...); err != nil { // warm the token and the connections
			return 0, 0, err
		}
		var prof <-chan error
		if !profiled && cpu == nil {
			prof, profiled = profile(p, o.cpuRun, o.cpuProfile), true
		}
		if cpu == nil {
			cpu = p.cpu
		}
		before := cpu()
		r, err := wrkAt(target, o.cpuRun, 1, 20, headers...)
		if err != nil {
			return 0, 0, err
		}
		used := cpu() - before
		if prof != nil {
			if err := <-prof; err != nil {
				return 0, 0, err
			}
		}
		requests := r.rps * o.cpuRun.Seconds()
		return float64(used.Microseconds()) / requests, r.rps, nil
	}
	fmt.Fprintf(out, "\n# CPU per answer: wrk -t1 -c20 %v straight at the server with the nginx recipe's headers, one cached token; CPU from the server's own /proc stat over the run\n", o.cpuRun)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tµs CPU per answer\treq/s\t")
	for range o.rounds {
		us, rps, err := measure("http://"+addr+"/check", nil) // authz's
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "authz /check (cached token)\t%.1f\t%.0f\t\n", us, rps)
		us, rps, err = measure("http://"+zero.addr+"/", zero.cpu)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "nginx return 204\t%.1f\t%.0f\t\n", us, rps)
	}
	return tw.Flush()
}

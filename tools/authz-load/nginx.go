package main

import (
	"bufio"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authz-dev/authz/internal/testidp"
)

// nginxOptions configure `authz-load nginx`: the seed's nginx+njs design
// and authz's /check door behind the same nginx, under the same wrk load.
type nginxOptions struct {
	authzBin, seedDir string
	duration, herd    time.Duration
	rounds            int
}

func runNginx(args []string, out io.Writer) int {
	var o nginxOptions
	fs := flag.NewFlagSet("authz-load nginx", flag.ExitOnError)
	fs.StringVar(&o.authzBin, "authz", "bin/authz", "authz binary to start")
	fs.StringVar(&o.seedDir, "seed", "bench/seed-nginx-njs", "the seed design's directory (nginx.conf.in, oauth2.js, authz-door.conf.in)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "one wrk run")
	fs.DurationVar(&o.herd, "herd", 32*time.Second, "the run that counts IdP calls, with a 10 s cache")
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
	seed, err := filepath.Abs(o.seedDir)
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

	// authz: the introspection endpoint, a 10 s cache like the seed's, the
	// nginx status profile; one instance on TCP, one on a Unix socket.
	var targets []target
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	seedURL, stop, err := startSeed(seed, dir, idp)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	stops = append(stops, stop)
	targets = append(targets, target{"seed: nginx+njs+proxy_cache", seedURL})
	for _, transport := range []string{"tcp", "uds"} {
		httpAddr := freeAddr()
		if transport == "uds" {
			httpAddr = "unix:" + filepath.Join(dir, "authz-http.sock")
		}
		p, err := startAuthzDoor(o.authzBin, dir, transport, idp, httpAddr)
		if err != nil {
			return err
		}
		stops = append(stops, p.stop)
		url, stop, err := startDoorNginx(seed, dir, transport, httpAddr)
		if err != nil {
			return fmt.Errorf("authz door (%s): %w", transport, err)
		}
		stops = append(stops, stop)
		targets = append(targets, target{"authz /check over " + transport, url})
	}

	fmt.Fprintf(out, "# wrk -t2 -c50 %v per run, %d alternating rounds, one cached opaque token; then %v runs counting IdP calls (10 s caches)\n", o.duration, o.rounds, o.herd)
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
	calls := make([]int64, len(targets))
	for i, t := range targets {
		// A token the target has not seen, so every expiry in the run counts.
		fresh := idp.IssueOpaque(idp.Claims(fmt.Sprintf("herd-%d", i), time.Hour, "orders:read", "orders-api"))
		before := idp.Introspections()
		if _, err := wrk(t.url, fresh, o.herd); err != nil {
			return err
		}
		calls[i] = idp.Introspections() - before
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50\tp99\treq/s vs seed\tp99 vs seed\tnon-2xx\tIdP calls\t")
	base := merged(results[0])
	for i, t := range targets {
		m := merged(results[i])
		fmt.Fprintf(tw, "%s\t%.0f\t%.2fms\t%.2fms\t%.2f\t%.2f\t%d\t%d\t\n", t.name, m.rps, m.p50, m.p99, m.rps/base.rps, m.p99/base.p99, m.non2xx, calls[i])
	}
	return tw.Flush()
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

func wrk(url, token string, d time.Duration) (wrkResult, error) {
	cmd := exec.Command("wrk", "-t2", "-c50", "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", "-H", "Authorization: Bearer "+token, url+"/api/orders")
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

// startSeed renders the seed's nginx.conf.in against the IdP and starts it.
func startSeed(seed, dir string, idp *testidp.IdP) (string, func(), error) {
	run := filepath.Join(dir, "seed")
	listen, upstream := freeAddr(), freeAddr()
	hostport := strings.TrimPrefix(idp.Issuer(), "http://")
	basic := base64.StdEncoding.EncodeToString([]byte("authz:s3cret"))
	return startNginxConf(run, filepath.Join(seed, "nginx.conf.in"), listen, strings.NewReplacer(
		"@RUN_DIR@", run, "@JS_DIR@", seed, "@LISTEN@", listen, "@UPSTREAM@", upstream,
		"@IDP_HOSTPORT@", hostport, "@IDP_PATH@", "/introspect",
		"@USE_STALE@", "# (proxy_cache_use_stale off: the seed's config)",
		"@IDP_AUTH@", `proxy_set_header Authorization "Basic `+basic+`";`,
	))
}

// startDoorNginx renders the seed's authz-door.conf.in: the same nginx
// shape, auth_request to authz's /check.
func startDoorNginx(seed, dir, name, authzHTTP string) (string, func(), error) {
	run := filepath.Join(dir, "door-"+name)
	listen, upstream := freeAddr(), freeAddr()
	return startNginxConf(run, filepath.Join(seed, "authz-door.conf.in"), listen, strings.NewReplacer(
		"@RUN_DIR@", run, "@LISTEN@", listen, "@UPSTREAM@", upstream, "@AUTHZ_HTTP@", authzHTTP,
	))
}

func startNginxConf(run, template, listen string, r *strings.Replacer) (string, func(), error) {
	if err := os.MkdirAll(filepath.Join(run, "tmp"), 0o755); err != nil {
		return "", nil, err
	}
	tmpl, err := os.ReadFile(template)
	if err != nil {
		return "", nil, err
	}
	conf := r.Replace(string(tmpl))
	if os.Geteuid() == 0 {
		conf = "user root;\n" + conf // workers must reach the run dir and the socket
	}
	path := filepath.Join(run, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("nginx", "-p", run, "-c", path, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	if err := waitTCP(listen, 5*time.Second); err != nil {
		stop()
		errlog, _ := os.ReadFile(filepath.Join(run, "error.log"))
		return "", nil, fmt.Errorf("nginx did not start: %v\n%s", err, errlog)
	}
	return "http://" + listen, stop, nil
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

func startAuthzDoor(bin, dir, name string, idp *testidp.IdP, httpAddr string) (*proc, error) {
	grpcAddr := freeAddr()
	path := filepath.Join(dir, "authz-"+name+".yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(doorConfig, grpcAddr, httpAddr, idp.Issuer())), 0o600); err != nil {
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

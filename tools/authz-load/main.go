// Command authz-load measures authz against a no-op Check server under the
// same load, in one run, alternating A and B, and prints ratios: the only
// numbers that mean something on a small shared machine.
//
//	authz-load -authz bin/authz                 # all scenarios, authz vs no-op
//	authz-load -addr host:9191 -token "$TOKEN"  # one scenario against any deployment
//	authz-load nginx -authz bin/authz           # behind nginx: authz's door vs the seed's nginx+njs
//	authz-load fleet -authz bin/authz           # IdP calls of 8 replicas on one Redis
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authz-dev/authz/internal/keyfile"
	"github.com/authz-dev/authz/internal/testidp"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "noop" {
		os.Exit(runNoop(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "fleet" {
		os.Exit(runFleet(os.Args[2:], os.Stdout))
	}
	if len(os.Args) > 1 && os.Args[1] == "nginx" {
		os.Exit(runNginx(os.Args[2:], os.Stdout))
	}
	os.Exit(run(os.Args[1:], os.Stdout))
}

type options struct {
	authzBin    string
	addr        string
	token       string
	concurrency int
	conns       int
	duration    time.Duration
	rounds      int
	scenarios   string
	profile     string
}

func run(args []string, out io.Writer) int {
	var o options
	fs := flag.NewFlagSet("authz-load", flag.ExitOnError)
	fs.StringVar(&o.authzBin, "authz", "bin/authz", "authz binary to start")
	fs.StringVar(&o.addr, "addr", "", "measure a running authz at this address instead (with -token)")
	fs.StringVar(&o.token, "token", "", "with -addr: the token to send (none: every Check is `missing`)")
	fs.IntVar(&o.concurrency, "concurrency", 50, "concurrent Checks in flight")
	fs.IntVar(&o.conns, "conns", 4, "gRPC connections the load is spread over")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of one run")
	fs.IntVar(&o.rounds, "rounds", 2, "A/B rounds per scenario")
	fs.StringVar(&o.scenarios, "scenarios", "jwt-hit,jwt-hit-routed,jwt-hit-minted,jwt-hit-traced,hot-expiry,jwt-miss-rs256,jwt-miss-minted,jwt-miss-es256,dpop-hit,introspect-hit,introspect-miss,denial,stampede", "scenarios to run")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of each authz instance's first run per scenario into this `dir`")
	fs.Parse(args)
	var err error
	if o.addr != "" {
		err = measureDeployment(o, out)
	} else {
		err = compare(o, out)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "authz-load: %v\n", err)
		return 1
	}
	return 0
}

// measureDeployment drives one scenario against an operator's own authz.
func measureDeployment(o options, out io.Writer) error {
	req := checkRequest(o.token)
	wantOK := o.token != ""
	r, err := drive(o.addr, o.concurrency, o.conns, o.duration*time.Duration(o.rounds), func(uint64) *authv3.CheckRequest { return req }, wantOK)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %.0f Checks/s, p50 %s p90 %s p99 %s, %d unexpected outcomes of %d\n", o.addr, r.rps(), ms(r.pct(.5)), ms(r.pct(.9)), ms(r.pct(.99)), r.failures, r.requests)
	return nil
}

// scenario is one kind of traffic: which authz instance, which requests.
type scenario struct {
	name   string
	miss   bool // against the instance whose cache TTL is 1ns
	routed bool // against the instance with routedRoutes routes and two rules, beside the plain hit instance
	traced bool // against instances tracing 1% and 100% of root Checks, beside the plain hit instance
	hot    bool // against the instance whose cache TTL is 1s, beside the plain hit instance
	// minted: against the instance whose policy mints an upstream token,
	// beside the plain one (hit, or miss with miss set).
	minted bool
	// dpop makes fresh requests (proofs) just before the run, as many as
	// the run can use: none may repeat.
	dpop   *dpopLoad
	reqs   []*authv3.CheckRequest
	wantOK bool
}

func compare(o options, out io.Writer) error {
	idp, err := testidp.New()
	if err != nil {
		return err
	}
	defer idp.Close()
	dir, err := os.MkdirTemp("", "authz-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(out, "# minting tokens...\n")
	scenarios, err := buildScenarios(idp, o.scenarios)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	noop, err := startProc("noop", "", self, "noop")
	if err != nil {
		return err
	}
	defer noop.stop()
	hit, err := startAuthz(o.authzBin, dir, "hit", o.profile != "", idp, "30s", "")
	if err != nil {
		return err
	}
	defer hit.stop()
	routed, err := startAuthz(o.authzBin, dir, "routed", o.profile != "", idp, "30s", routedConfig())
	if err != nil {
		return err
	}
	defer routed.stop()
	col, err := startCollector()
	if err != nil {
		return err
	}
	defer col.stop()
	traced001, err := startAuthz(o.authzBin, dir, "traced-0.01", o.profile != "", idp, "30s", tracingConfig(col.addr, 0.01))
	if err != nil {
		return err
	}
	defer traced001.stop()
	traced1, err := startAuthz(o.authzBin, dir, "traced-1", o.profile != "", idp, "30s", tracingConfig(col.addr, 1))
	if err != nil {
		return err
	}
	defer traced1.stop()
	hot, err := startAuthz(o.authzBin, dir, "hot", o.profile != "", idp, hotTTL.String(), "")
	if err != nil {
		return err
	}
	defer hot.stop()
	miss, err := startAuthz(o.authzBin, dir, "miss", o.profile != "", idp, "1ns", "")
	if err != nil {
		return err
	}
	defer miss.stop()
	mintExtra, err := mintedConfig(dir)
	if err != nil {
		return err
	}
	minted, err := startAuthz(o.authzBin, dir, "minted", o.profile != "", idp, "30s", mintExtra)
	if err != nil {
		return err
	}
	defer minted.stop()
	mintedMiss, err := startAuthz(o.authzBin, dir, "minted-miss", o.profile != "", idp, "1ns", mintExtra)
	if err != nil {
		return err
	}
	defer mintedMiss.stop()

	fmt.Fprintf(out, "# concurrency %d over %d connections, %v per run, %d A/B rounds; CPU is the server process's user+system time\n", o.concurrency, o.conns, o.duration, o.rounds)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tserver\tChecks/s\tp50\tp90\tp99\tCPU/Check\tfailures\t")
	var notes []string
	authzRPS := map[string]float64{}
	for _, sc := range scenarios {
		// The servers measured in turn, authz first, the no-op last; a
		// routed scenario also measures the plain hit instance, so its
		// cost over the same hit without routes is read in the same run.
		servers := []*proc{hit, noop}
		switch {
		case sc.minted && sc.miss:
			servers = []*proc{mintedMiss, miss, noop}
		case sc.minted:
			servers = []*proc{minted, hit, noop}
		case sc.miss:
			servers = []*proc{miss, noop}
		case sc.routed:
			servers = []*proc{routed, hit, noop}
		case sc.traced:
			servers = []*proc{traced001, traced1, hit, noop}
		case sc.hot:
			servers = []*proc{hot, hit, noop}
		}
		if sc.dpop != nil {
			// Enough proofs for 25k Checks/s; each is used once.
			n := int(25000*o.duration.Seconds())*o.rounds + 1
			fmt.Fprintf(out, "# %s: signing %d DPoP proofs...\n", sc.name, n)
			reqs, err := sc.dpop.requests(n)
			if err != nil {
				return err
			}
			if _, err := checkOnce(hit.addr, reqs[n-1]); err != nil { // caches the token
				return err
			}
			sc.reqs = reqs[:n-1]
		}
		// Warm the caches (and connections) so "hit" means hit.
		if !sc.miss && sc.dpop == nil {
			for _, srv := range servers[:len(servers)-1] {
				for _, r := range sc.reqs {
					if _, err := checkOnce(srv.addr, r); err != nil {
						return err
					}
				}
			}
		}
		var used uint64
		results := make([][]result, len(servers))
		cpus := make([]time.Duration, len(servers))
		var hotCalls int64
		var hotTime time.Duration
		for round := range o.rounds {
			for i, srv := range servers {
				next := func(i uint64) *authv3.CheckRequest { return sc.reqs[i%uint64(len(sc.reqs))] }
				if sc.dpop != nil && srv != noop {
					// Proofs are used once across rounds (the no-op server
					// checks none, so it may reuse them).
					base := used
					next = func(i uint64) *authv3.CheckRequest { return sc.reqs[(base+i)%uint64(len(sc.reqs))] }
				}
				want := sc.wantOK || srv == noop
				var profiled <-chan error
				if o.profile != "" && round == 0 && srv != noop {
					profiled = profile(srv, o.duration, filepath.Join(o.profile, sc.name+"-"+srv.name+".pprof"))
				}
				c0, calls0, t0 := srv.cpu(), idp.Introspections(), time.Now()
				r, err := drive(srv.addr, o.concurrency, o.conns, o.duration, next, want)
				if err != nil {
					return err
				}
				if sc.dpop != nil && srv != noop {
					used += uint64(r.requests + 2*o.concurrency) // and the Checks cut off in flight
				}
				if profiled != nil {
					if err := <-profiled; err != nil {
						return err
					}
				}
				results[i], cpus[i] = append(results[i], r), cpus[i]+srv.cpu()-c0
				if srv == hot {
					hotCalls, hotTime = hotCalls+idp.Introspections()-calls0, hotTime+time.Since(t0)
				}
			}
		}
		merged := make([]result, len(servers))
		for i := range servers {
			merged[i] = merge(results[i])
		}
		row := func(server string, r result, cpu time.Duration) {
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%.1fµs\t%d\t\n", sc.name, server, r.rps(), ms(r.pct(.5)), ms(r.pct(.9)), ms(r.pct(.99)), float64(cpu.Microseconds())/float64(r.requests), r.failures)
		}
		compare := func(label string, i, j int) {
			ra, rb := merged[i], merged[j]
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\t\n", sc.name, label, ra.rps()/rb.rps(),
				ratio(ra.pct(.5), rb.pct(.5)), ratio(ra.pct(.9), rb.pct(.9)), ratio(ra.pct(.99), rb.pct(.99)),
				(float64(cpus[i])/float64(ra.requests))/(float64(cpus[j])/float64(rb.requests)))
		}
		last := len(servers) - 1
		if sc.hot {
			row("authz, 1s TTL", merged[0], cpus[0])
			row("authz, no expiry", merged[1], cpus[1])
			row("no-op", merged[2], cpus[2])
			compare("expiry/none", 0, 1)
			compare("expiry/no-op", 0, last)
			notes = append(notes, fmt.Sprintf("# hot-expiry: %d IdP calls in %.1f s of load with a %v TTL: %.2f per TTL", hotCalls, hotTime.Seconds(), hotTTL, float64(hotCalls)/(hotTime.Seconds()/hotTTL.Seconds())))
			continue
		}
		if sc.traced {
			row("authz, traced 1%", merged[0], cpus[0])
			row("authz, traced 100%", merged[1], cpus[1])
			row("authz, untraced", merged[2], cpus[2])
			row("no-op", merged[3], cpus[3])
			compare("1%/untraced", 0, 2)
			compare("100%/untraced", 1, 2)
			notes = append(notes, fmt.Sprintf("# jwt-hit-traced: the collector received %d spans", col.spans.Load()))
			continue
		}
		if sc.routed || sc.minted {
			// Measured beside the plain instance: the feature's cost.
			feature := "routes"
			if sc.minted {
				feature = "mint"
			}
			row("authz+"+feature, merged[0], cpus[0])
			row("authz", merged[1], cpus[1])
			row("no-op", merged[2], cpus[2])
			compare(feature+"/plain", 0, 1)
			compare(feature+"/no-op", 0, last)
			continue
		}
		row("authz", merged[0], cpus[0])
		row("no-op", merged[last], cpus[last])
		compare("authz/no-op", 0, last)
		authzRPS[sc.name] = merged[0].rps()
	}
	if d, m := authzRPS["dpop-hit"], authzRPS["jwt-miss-es256"]; d > 0 && m > 0 {
		notes = append(notes, fmt.Sprintf("# dpop-hit (cached token, a fresh ES256 proof per Check) / jwt-miss-es256: %.2f in Checks/s", d/m))
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
	fmt.Fprintf(out, "# authz RSS after the run: %.0f MiB (hit instance), %.0f MiB (miss instance)\n", hit.rssMiB(), miss.rssMiB())
	if strings.Contains(o.scenarios, "stampede") {
		n, err := stampede(idp, hit.addr, 1000)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "# stampede: 1000 concurrent first Checks of one new opaque token made %d introspection request(s)\n", n)
	}
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func buildScenarios(idp *testidp.IdP, names string) ([]scenario, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		want[strings.TrimSpace(n)] = true
	}
	mint := func(n int, kid string, ttl time.Duration) ([]*authv3.CheckRequest, error) {
		reqs := make([]*authv3.CheckRequest, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := idp.Claims(fmt.Sprintf("user-%d", i), ttl, "orders:read", "orders-api")
				if ttl < 0 {
					c["iat"], c["nbf"] = time.Now().Add(2*ttl).Unix(), time.Now().Add(2*ttl).Unix()
				}
				tok, err := idp.Mint(kid, c)
				if err != nil {
					errs <- err
					return
				}
				reqs[i] = checkRequest(tok)
			}()
		}
		wg.Wait()
		close(errs)
		return reqs, <-errs
	}
	opaque := func(n int) []*authv3.CheckRequest {
		reqs := make([]*authv3.CheckRequest, n)
		for i := range reqs {
			reqs[i] = checkRequest(idp.IssueOpaque(idp.Claims(fmt.Sprintf("user-%d", i), time.Hour, "orders:read", "orders-api")))
		}
		return reqs
	}
	var out []scenario
	add := func(name string, miss bool, wantOK bool, reqs []*authv3.CheckRequest, err error) error {
		if err != nil {
			return err
		}
		out = append(out, scenario{name: name, miss: miss, reqs: reqs, wantOK: wantOK})
		return nil
	}
	var err error
	var reqs []*authv3.CheckRequest
	if want["jwt-hit"] {
		reqs, err = mint(1000, "ec-1", time.Hour)
		if err = add("jwt-hit", false, true, reqs, err); err != nil {
			return nil, err
		}
	}
	if want["jwt-hit-routed"] {
		reqs, err = mint(1000, "ec-1", time.Hour)
		if err != nil {
			return nil, err
		}
		out = append(out, scenario{name: "jwt-hit-routed", routed: true, reqs: reqs, wantOK: true})
	}
	if want["jwt-hit-traced"] {
		reqs, err = mint(1000, "ec-1", time.Hour)
		if err != nil {
			return nil, err
		}
		// Root Checks (no trace context from the proxy), so the ratio decides.
		for _, r := range reqs {
			delete(r.Attributes.Request.Http.Headers, "traceparent")
		}
		out = append(out, scenario{name: "jwt-hit-traced", traced: true, reqs: reqs, wantOK: true})
	}
	if want["hot-expiry"] {
		// One hot opaque token, as a busy client sends it.
		req := checkRequest(idp.IssueOpaque(idp.Claims("hot", time.Hour, "orders:read", "orders-api")))
		out = append(out, scenario{name: "hot-expiry", hot: true, reqs: []*authv3.CheckRequest{req}, wantOK: true})
	}
	if want["jwt-miss-rs256"] {
		reqs, err = mint(2000, "rsa-1", time.Hour)
		if err = add("jwt-miss-rs256", true, true, reqs, err); err != nil {
			return nil, err
		}
	}
	if want["jwt-miss-minted"] {
		// RS256 tokens, as jwt-miss-rs256: a new verdict each Check, so a
		// new upstream token is signed (ES256) each Check too.
		reqs, err = mint(2000, "rsa-1", time.Hour)
		if err != nil {
			return nil, err
		}
		out = append(out, scenario{name: "jwt-miss-minted", miss: true, minted: true, reqs: reqs, wantOK: true})
	}
	if want["jwt-hit-minted"] {
		reqs, err = mint(1000, "ec-1", time.Hour)
		if err != nil {
			return nil, err
		}
		out = append(out, scenario{name: "jwt-hit-minted", minted: true, reqs: reqs, wantOK: true})
	}
	if want["jwt-miss-es256"] {
		reqs, err = mint(2000, "ec-1", time.Hour)
		if err = add("jwt-miss-es256", true, true, reqs, err); err != nil {
			return nil, err
		}
	}
	if want["dpop-hit"] {
		d, err := newDPoPLoad(idp)
		if err != nil {
			return nil, err
		}
		out = append(out, scenario{name: "dpop-hit", dpop: d, wantOK: true})
	}
	if want["introspect-hit"] {
		add("introspect-hit", false, true, opaque(1000), nil)
	}
	if want["introspect-miss"] {
		add("introspect-miss", true, true, opaque(2000), nil)
	}
	if want["denial"] {
		reqs, err = mint(1000, "ec-1", -time.Hour) // expired: invalid, negatively cached
		if err = add("denial", false, false, reqs, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// benchConfig: one issuer and one introspection endpoint at the load's IdP.
const benchConfig = `
grpc: { addr: "%s" }
http: { addr: "%s", pprof: %t }
cache: { ttl: %s, negative_ttl: 30s, max_bytes: 268435456 }
issuers:
  - name: bench
    issuer: %s
    jwks_url: %s
    algorithms: [RS256, ES256]
    audiences: [orders-api]
introspection:
  - name: bench-introspect
    endpoint: %s/introspect
    client_id: authz
    client_secret: s3cret
log: { level: info }
# dpop-hit drives one client key at the machine's whole rate; the default
# per-key share of the replay set (a sixteenth: 62,500 proofs a window) is
# for many clients, and would refuse the rest of the run's proofs.
dpop: { replay_max_per_key: 1000000 }
policies:
  default:
    headers: { sub: x-user-id, client_id: x-client-id, scope: x-scopes, email: x-email }
`

// mintedConfig makes the default policy mint a phantom token (ES256, with
// two claims copied) for every allow, with a signing key written to dir.
func mintedConfig(dir string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "upstream-signing.pem")
	if err := keyfile.Write(path, key); err != nil {
		return "", err
	}
	return "    upstream_token: { audience: orders-backend, claims: [scope, client_id] }\n" +
		"upstream_tokens: { issuer: https://authz.bench.internal, key_files: [" + path + "] }\n", nil
}

// tracingConfig sends spans of root Checks, sampled at ratio, to the
// harness's collector.
func tracingConfig(addr string, ratio float64) string {
	return fmt.Sprintf("tracing: { otlp_endpoint: %q, insecure: true, ratio: %v }\n", addr, ratio)
}

// hotTTL is the cache TTL of the hot-expiry instance: at least three
// expiries in a 3 s run.
const hotTTL = time.Second

// routedRoutes is the size of the routed instance's table: a mesh with a
// route per workload, keyed by destination principal (Istio's CUSTOM
// idiom), the last one catching the load's requests.
const routedRoutes = 10000

// routedConfig adds routedRoutes routes to benchConfig and a policy with
// two rules that hold for the load's requests (host shop.example, GET
// /orders/…, to the orders workload).
func routedConfig() string {
	var b strings.Builder
	b.WriteString(`  orders:
    rules:
      - { name: reads-or-writer, expr: 'request.method in ["GET", "HEAD"] || "orders:write" in token.scopes' }
      - { name: tenant-header, expr: '!("x-tenant" in request.headers) || request.headers["x-tenant"] == claims.sub' }
routes:
`)
	for i := range routedRoutes - 1 {
		fmt.Fprintf(&b, "  - { name: svc-%d, match: { destination_principals: [spiffe://cluster.local/ns/shop/sa/svc-%d], path_prefix: /svc-%d/, methods: [GET, POST] }, policy: default }\n", i, i, i)
	}
	b.WriteString("  - { name: orders, match: { destination_principals: [" + ordersPrincipal + "], path_prefix: /orders/, methods: [GET, POST] }, policy: orders }\n")
	b.WriteString("routes_unmatched: deny\n")
	return b.String()
}

func startAuthz(bin, dir, name string, pprof bool, idp *testidp.IdP, ttl, extra string) (*proc, error) {
	grpcAddr, httpAddr := freeAddr(), freeAddr()
	path := filepath.Join(dir, name+".yaml")
	cfg := fmt.Sprintf(benchConfig, grpcAddr, httpAddr, pprof, ttl, idp.Issuer(), idp.JWKSURL(), idp.Issuer()) + extra
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc("authz-"+name, grpcAddr, bin, "serve", "-config", path)
	if p != nil {
		p.httpAddr = httpAddr
	}
	return p, err
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// checkRequest is a realistic CheckRequest: method, host, path, a dozen
// typical headers and the token.
func checkRequest(token string) *authv3.CheckRequest {
	h := map[string]string{
		":authority": "shop.example", ":method": "GET", ":path": "/orders/1?expand=items", ":scheme": "https",
		"accept": "application/json", "accept-encoding": "gzip, br", "accept-language": "en-GB,en;q=0.9",
		"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "x-forwarded-for": "203.0.113.7",
		"x-forwarded-proto": "https", "x-request-id": "3f1b8c2e-9a1d-4f7e-8b6a-2c5d9e0f1a2b",
		"x-envoy-expected-rq-timeout-ms": "15000", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	if token != "" {
		h["authorization"] = "Bearer " + token
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Principal: "spiffe://cluster.local/ns/shop/sa/web"},
		Destination: &authv3.AttributeContext_Peer{Principal: ordersPrincipal},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/orders/1?expand=items", Host: "shop.example", Scheme: "https", Protocol: "HTTP/2", Headers: h,
		}}}}
}

// ordersPrincipal is the workload every load request is sent to, as
// Istio's sidecar names it in a Check.
const ordersPrincipal = "spiffe://cluster.local/ns/shop/sa/orders"

func checkOnce(addr string, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return authv3.NewAuthorizationClient(conn).Check(ctx, req)
}

// stampede sends n concurrent first Checks of one new opaque token while the
// IdP answers slowly, and returns how many introspections the IdP served.
func stampede(idp *testidp.IdP, addr string, n int) (int64, error) {
	req := checkRequest(idp.IssueOpaque(idp.Claims("stampede", time.Hour, "orders:read", "orders-api")))
	idp.SetDelay(100 * time.Millisecond)
	defer idp.SetDelay(0)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	before := idp.Introspections()
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var failed sync.Once
	var ferr error
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := client.Check(ctx, req); err != nil {
				failed.Do(func() { ferr = err })
			}
		}()
	}
	close(gate)
	wg.Wait()
	return idp.Introspections() - before, ferr
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authz-dev/authz/internal/testidp"
)

// fleetConfig: introspection only, the Redis tier, a short TTL.
const fleetConfig = `
grpc: { addr: "%s" }
http: { addr: "%s" }
cache:
  ttl: %s
  refresh_ahead: "%s"
  max_bytes: 67108864
  redis: { addr: "%s", key_salt_file: "%s", lease: %s }
introspection:
  - name: bench-introspect
    endpoint: %s/introspect
    client_id: authz
    client_secret: s3cret
log: { level: warn }
policies:
  default:
    headers: { sub: x-user-id }
`

type fleetOptions struct {
	authzBin           string
	replicas, tokens   int
	ttl, duration      time.Duration
	rate               float64
	lease, idpDelay    time.Duration
	refreshAhead       string
	redisBin, redisDir string
}

// runFleet measures how many IdP calls a fleet of replicas on one Redis
// makes for hot opaque tokens, against one replica and against the fleet
// without leases, each under the same open-loop load per replica.
func runFleet(args []string, out io.Writer) int {
	var o fleetOptions
	fs := flag.NewFlagSet("authz-load fleet", flag.ExitOnError)
	fs.StringVar(&o.authzBin, "authz", "bin/authz", "authz binary to start")
	fs.IntVar(&o.replicas, "replicas", 8, "authz processes sharing one Redis")
	fs.IntVar(&o.tokens, "tokens", 100, "hot opaque tokens, each asked for on every replica")
	fs.DurationVar(&o.ttl, "ttl", 2*time.Second, "cache TTL")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "length of each run")
	fs.Float64Var(&o.rate, "rate", 1000, "Checks a second offered to each replica (open loop)")
	fs.StringVar(&o.refreshAhead, "refresh-ahead", "10%", "cache.refresh_ahead: with -rate, it decides how many replicas see each token in its refresh window (every one: the hot-token case)")
	fs.DurationVar(&o.lease, "lease", 500*time.Millisecond, "cache.redis.lease of the fleet")
	fs.DurationVar(&o.idpDelay, "idp-delay", 5*time.Millisecond, "the test IdP's answer time")
	fs.Parse(args)
	if err := fleet(o, out); err != nil {
		fmt.Fprintln(os.Stderr, "authz-load fleet:", err)
		return 1
	}
	return 0
}

func fleet(o fleetOptions, out io.Writer) error {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("needs redis-server (Debian's redis-server): %w", err)
	}
	o.redisBin = redisBin
	dir, err := os.MkdirTemp("", "authz-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.redisDir = dir
	idp, err := testidp.New()
	if err != nil {
		return err
	}
	defer idp.Close()
	idp.SetDelay(o.idpDelay)

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "setup\treplicas\tIdP calls\tper token per TTL\tp50\tp99\tp99.9\tmax\tfailed\t\n")
	for _, run := range []struct {
		name     string
		replicas int
		lease    time.Duration
	}{
		{"one replica", 1, o.lease},
		{"fleet, no lease", o.replicas, 0},
		{"fleet, lease " + o.lease.String(), o.replicas, o.lease},
	} {
		calls, r, err := fleetRun(o, idp, run.replicas, run.lease)
		if err != nil {
			return fmt.Errorf("%s: %w", run.name, err)
		}
		ttls := o.duration.Seconds() / o.ttl.Seconds()
		fmt.Fprintf(w, "%s\t%d\t%d\t%.2f\t%s\t%s\t%s\t%s\t%d\t\n", run.name, run.replicas, calls, float64(calls)/float64(o.tokens)/ttls,
			ms(r.pct(0.50)), ms(r.pct(0.99)), ms(r.pct(0.999)), ms(r.pct(1)), r.failures)
	}
	fmt.Fprintf(w, "\n%d hot opaque tokens, TTL %v (refresh ahead %s), %.0f Checks/s offered to each replica for %v; the IdP answers in %v.\n",
		o.tokens, o.ttl, o.refreshAhead, o.rate, o.duration, o.idpDelay)
	fmt.Fprintln(w, "Each replica has seen every token before the run; per token per TTL = IdP calls in the run / tokens / (duration / TTL).")
	return w.Flush()
}

// fleetRun starts a fresh Redis and n replicas on it, offers the load to
// every replica at once, and returns the IdP calls made and the merged
// latencies.
func fleetRun(o fleetOptions, idp *testidp.IdP, n int, lease time.Duration) (int64, result, error) {
	redisAddr := freeAddr()
	_, port, _ := net.SplitHostPort(redisAddr)
	redis := exec.Command(o.redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", o.redisDir)
	redis.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := redis.Start(); err != nil {
		return 0, result{}, fmt.Errorf("start redis-server: %w", err)
	}
	defer func() { syscall.Kill(-redis.Process.Pid, syscall.SIGKILL); redis.Wait() }()
	if err := waitTCP(redisAddr, 10*time.Second); err != nil {
		return 0, result{}, err
	}
	salt := filepath.Join(o.redisDir, "salt")
	if err := os.WriteFile(salt, []byte("fleet-benchmark-salt-0123456789\n"), 0o600); err != nil {
		return 0, result{}, err
	}
	var replicas []*proc
	defer func() {
		for _, p := range replicas {
			p.stop()
		}
	}()
	for i := range n {
		grpcAddr, httpAddr := freeAddr(), freeAddr()
		cfg := fmt.Sprintf(fleetConfig, grpcAddr, httpAddr, o.ttl, o.refreshAhead, redisAddr, salt, lease, idp.Issuer())
		path := filepath.Join(o.redisDir, fmt.Sprintf("replica-%d.yaml", i))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			return 0, result{}, err
		}
		p, err := startProc(fmt.Sprintf("authz-%d", i), grpcAddr, o.authzBin, "serve", "-config", path)
		if err != nil {
			return 0, result{}, err
		}
		replicas = append(replicas, p)
	}
	reqs := make([]*authv3.CheckRequest, o.tokens)
	for i := range reqs {
		reqs[i] = checkRequest(idp.IssueOpaque(idp.Claims(fmt.Sprintf("fleet-user-%d", i), time.Hour, "orders:read", "orders-api")))
	}
	clients := make([]authv3.AuthorizationClient, n)
	for i, p := range replicas {
		conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, result{}, err
		}
		defer conn.Close()
		clients[i] = authv3.NewAuthorizationClient(conn)
	}
	allowed := func(ctx context.Context, client authv3.AuthorizationClient, req *authv3.CheckRequest) bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, req)
		return err == nil && codes.Code(resp.GetStatus().GetCode()) == codes.OK
	}
	// Every replica has every token before the clock starts: the run
	// counts what staying fresh costs, not first sight.
	for i, p := range replicas {
		for _, req := range reqs {
			if !allowed(context.Background(), clients[i], req) {
				return 0, result{}, fmt.Errorf("warming %s: a token was not allowed", p.name)
			}
		}
	}
	before := idp.Introspections()
	results := make([]result, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, p := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = openLoop(o.rate, o.duration, func(ctx context.Context, _ int, k uint64) bool {
				return allowed(ctx, clients[i], reqs[k%uint64(len(reqs))])
			})
			if results[i].requests == 0 {
				errs <- fmt.Errorf("no Check completed against %s", p.name)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, result{}, err
	}
	return idp.Introspections() - before, merge(results), nil
}

package policytest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/dpopproof"
	"github.com/authz-dev/authz/internal/server"
)

// Runner is a config's server on loopback, with the run's own key as
// every issuer's and an answering machine as every introspection endpoint.
type Runner struct {
	cfg     *config.Config
	keys    map[jose.SignatureAlgorithm]jose.JSONWebKey // private
	stub    *http.Server                                // the introspection endpoints
	stubURL string
	srv     *server.Server
	conn    *grpc.ClientConn
	client  authv3.AuthorizationClient
	cancel  context.CancelFunc
	done    chan error
	dir     string

	// upstream is the public half of the key the run signs upstream
	// tokens with, in place of upstream_tokens.key_files.
	upstream jose.JSONWebKey

	// signed: endpoints that answer signed (RFC 9701), with the iss and
	// aud their answers carry.
	signed map[string][2]string

	// dpop signs the proofs of the key dpop tokens are bound to (its
	// thumbprint dpopJKT); otherDPoP those of a key no token names.
	dpop, otherDPoP *dpopproof.Signer
	dpopJKT         string

	// apiKeys are the keys the cases give, each with its entry, which
	// every api_keys validator's file (the run's) lists.
	apiKeys map[string]map[string]any

	mu      sync.Mutex
	answers map[string]map[string]any // endpoint/token → answer
	opaque  int
}

// Start runs cfg (as loaded by config.Load or LoadOffline) for tests;
// cases that give API keys must be among cases.
func Start(cfg *config.Config, cases ...Case) (*Runner, error) {
	r := &Runner{cfg: cfg, keys: map[jose.SignatureAlgorithm]jose.JSONWebKey{}, answers: map[string]map[string]any{}, signed: map[string][2]string{},
		apiKeys: map[string]map[string]any{}}
	dir, err := os.MkdirTemp("", "authz-test-")
	if err != nil {
		return nil, err
	}
	r.dir = dir
	if err := r.makeKeys(); err != nil {
		r.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Close()
		return nil, err
	}
	r.stub, r.stubURL = &http.Server{Handler: http.HandlerFunc(r.introspect), ReadHeaderTimeout: 10 * time.Second}, "http://"+ln.Addr().String()
	go r.stub.Serve(ln)
	// Listeners on loopback, nothing shared, nothing exported: the run
	// judges only what the config's policies and routes say.
	cfg.GRPC = config.GRPC{Addr: "127.0.0.1:0"}
	cfg.HTTP = config.HTTP{Addr: "127.0.0.1:0", Proxy: cfg.HTTP.Proxy, PolicyFrom: cfg.HTTP.PolicyFrom}
	cfg.Admin = config.Admin{}
	cfg.Cache.Redis = config.Redis{}
	cfg.Tracing = config.Tracing{}
	cfg.Log = config.Log{Level: "error"}
	for i := range cfg.Issuers {
		is := &cfg.Issuers[i]
		is.JWKSURL, is.Discovery, is.JWKSFile = "", false, filepath.Join(dir, "jwks.json")
		if is.Kubernetes != nil {
			// The run's keys stand in for the API server's; its CA and
			// the pod's token are not asked for, but must be files.
			k := *is.Kubernetes
			k.CAFile, k.TokenFile = filepath.Join(dir, "jwks.json"), filepath.Join(dir, "jwks.json")
			is.Kubernetes = &k
		}
	}
	for i := range cfg.Introspection {
		in := &cfg.Introspection[i]
		in.Endpoint = r.stubURL + "/" + in.Name
		in.ClientSecret, in.ClientSecretFile = "authz-test", ""
		in.CAFile, in.CertFile, in.KeyFile = "", "", ""
		if in.SignedAnswers {
			// Signed (RFC 9701) with the run's ES256 key, which the
			// endpoint's key source becomes.
			in.JWKSURL, in.Discovery, in.JWKSFile, in.Algorithms = "", false, filepath.Join(dir, "jwks.json"), []string{"ES256"}
			r.signed[in.Name] = [2]string{in.Issuer, in.ClientID}
		}
	}
	if len(cfg.APIKeys) > 0 {
		// One key file, the run's, for every api_keys validator: the
		// cases' keys, each with its entry.
		file, err := r.writeAPIKeys(cases)
		if err != nil {
			r.Close()
			return nil, err
		}
		for i := range cfg.APIKeys {
			cfg.APIKeys[i].File = file
		}
	}
	if cfg.DPoP.RequireNonce {
		// Nonces signed with a key of the run's: the config's key file
		// may not be at hand, and a case judges proofs, not the key.
		if cfg.DPoP.NonceKeyFile, err = r.makeNonceKey(); err != nil {
			r.Close()
			return nil, err
		}
	}
	if cfg.UpstreamTokens.Enabled() {
		if cfg.UpstreamTokens.KeyFiles, err = r.makeUpstreamKey(); err != nil {
			r.Close()
			return nil, err
		}
	}
	on := true
	for name, p := range cfg.Policies {
		p.DynamicMetadata = &on // the decision's route, policy and rule come back with it
		cfg.Policies[name] = p
	}
	if err := config.Complete(cfg); err != nil {
		r.Close()
		return nil, err
	}
	r.srv, err = server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		r.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.srv.Run(ctx) }()
	r.conn, err = grpc.NewClient(r.srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		r.Close()
		return nil, err
	}
	r.client = authv3.NewAuthorizationClient(r.conn)
	if err := r.waitServing(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Runner) waitServing() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := healthpb.NewHealthClient(r.conn).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the config's server did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops the server and removes the run's files.
func (r *Runner) Close() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	if r.conn != nil {
		r.conn.Close()
	}
	if r.stub != nil {
		r.stub.Close()
	}
	os.RemoveAll(r.dir)
}

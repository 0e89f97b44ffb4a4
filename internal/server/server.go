package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/authz-dev/authz/envoy"
	"github.com/authz-dev/authz/internal/cache"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/forwardauth"
	"github.com/authz-dev/authz/internal/leanhttp"
	"github.com/authz-dev/authz/internal/proxyprofile"
	"github.com/authz-dev/authz/internal/resourcemeta"
	"github.com/authz-dev/authz/internal/telemetry"
	"github.com/authz-dev/authz/internal/tracing"
	"github.com/authz-dev/authz/internal/upstreamtoken"
)

// Server is a running authz: the core behind its gRPC and HTTP listeners.
type Server struct {
	cfg     *config.Config // as started: listeners do not change on reload
	log     *slog.Logger
	metrics *telemetry.Metrics
	// traces outlive reloads: tracing.* changes need a restart.
	traces   *tracing.Provider
	live     live
	reloadMu sync.Mutex
	// reloadReady bounds a reload's wait for new key sets (tests shorten it).
	reloadReady time.Duration
	grpc        *grpc.Server
	health      *health.Server
	http        *http.Server
	// lean serves the check path's plain requests on the HTTP listener
	// and hands the rest to http.
	lean  *leanhttp.Server
	admin *http.Server
	ready atomic.Bool

	grpcLn, httpLn, adminLn net.Listener
}

// doors are the doors as telemetry labels them.
func doors() []telemetry.Door {
	return []telemetry.Door{{Name: envoy.Door, Span: envoy.SpanName}, {Name: forwardauth.Door, Span: forwardauth.SpanName}}
}

// New builds the server and binds its listeners (so a test can ask
// for port 0 and read the address back).
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	m := telemetry.NewMetrics(nil, doors())
	traces, err := newTraces(cfg.Tracing, m, log)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, metrics: m, traces: traces, health: health.NewServer(), reloadReady: defaultReloadReady}
	c, err := buildCore(cfg, log, m, traces, nil, s.live.Forget)
	if err != nil {
		traces.Shutdown(context.Background())
		return nil, err
	}
	s.live.cur.Store(c)
	c.commit()
	m.WatchCache(
		func() cache.Stats { return s.live.cur.Load().auth.CacheStats() },
		func() cache.Stats { return s.live.cur.Load().auth.NegativeCacheStats() },
		func() cache.Stats { return s.live.cur.Load().auth.UpstreamCacheStats() },
	)
	var opts []grpc.ServerOption
	if cfg.GRPC.TLS.CertFile != "" {
		tlsCfg, err := serverTLS(cfg.GRPC.TLS)
		if err != nil {
			c.Close()
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	// Checks run on long-lived workers rather than a new goroutine each: a
	// fresh goroutine's stack grows (and is copied) on every signature
	// verification, which profiles showed at ~7% of a miss. Enough workers
	// for the Checks a proxy keeps in flight; beyond them gRPC starts
	// goroutines as before.
	reportPanic := telemetry.PanicReporter(log, m)
	opts = append(opts, grpc.NumStreamWorkers(uint32(min(64*runtime.GOMAXPROCS(0), 1024))),
		// The Check door recovers its own panics into an error answer;
		// these catch any other handler's (health, reflection).
		grpc.ChainUnaryInterceptor(recoverUnary(reportPanic)),
		grpc.ChainStreamInterceptor(recoverStream(reportPanic)),
		// Clients pinging more often than every 10 s are cut off, as
		// gRPC's servers do by default at 5 min; Envoy pings only when
		// configured to, and far less often.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}))
	s.grpc = grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(s.grpc, envoy.NewServer(&s.live, &s.live))
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if cfg.GRPC.Reflection {
		reflection.Register(s.grpc)
	}
	s.setServing(false)

	mux := http.NewServeMux()
	proxy, err := proxyprofile.For(cfg.HTTP.Proxy)
	if err != nil {
		c.Close()
		return nil, err
	}
	door := forwardauth.New(&s.live, forwardauth.Options{Path: cfg.HTTP.CheckPath, Proxy: proxy, PolicyFrom: cfg.HTTP.PolicyFrom,
		ClientCertHeader: cfg.HTTP.ClientCertHeader, TrustXFCC: cfg.HTTP.TrustXFCC, Observer: &s.live})
	mux.Handle("GET /metrics", m.Handler())
	if cfg.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// authz's public keys, for upstreams that verify the tokens it mints.
	mux.Handle("GET /.well-known/", upstreamtoken.Handler(func() *upstreamtoken.Published { return s.live.cur.Load().published }))
	// Protected resources' metadata (RFC 9728), for clients that met a
	// challenge naming it.
	resources := resourcemeta.Serve(func() *resourcemeta.Set { return s.live.cur.Load().resources })
	mux.Handle("GET "+config.WellKnownResourcePath, resources)
	mux.Handle("GET "+config.WellKnownResourcePath+"/", resources)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready: keys not loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready: "+s.live.cur.Load().readiness())
	})
	s.http = newHTTPServer(door.Front(mux), cfg.HTTP)
	s.lean = &leanhttp.Server{Handler: door, Serves: func(_, target string) bool { return door.Serves(target) }, Fallback: s.http}

	if cfg.GRPC.Enabled() {
		if s.grpcLn, err = listen(cfg.GRPC.Addr); err != nil {
			c.Close()
			return nil, fmt.Errorf("listen grpc %s: %w", cfg.GRPC.Addr, err)
		}
	}
	if cfg.HTTP.Enabled() {
		if s.httpLn, err = listen(cfg.HTTP.Addr); err != nil {
			s.closeListeners()
			c.Close()
			return nil, fmt.Errorf("listen http %s: %w", cfg.HTTP.Addr, err)
		}
	}
	if cfg.Admin.Enabled() {
		s.admin = newHTTPServer(adminHandler(&s.live, log), cfg.HTTP)
		if cfg.Admin.TLS.CertFile != "" {
			if s.admin.TLSConfig, err = serverTLS(cfg.Admin.TLS); err != nil {
				s.closeListeners()
				c.Close()
				return nil, fmt.Errorf("admin tls: %w", err)
			}
		}
		if s.adminLn, err = listen(cfg.Admin.Addr); err != nil {
			s.closeListeners()
			c.Close()
			return nil, fmt.Errorf("listen admin %s: %w", cfg.Admin.Addr, err)
		}
	}
	return s, nil
}

// newHTTPServer bounds every phase of a connection, so idle keep-alive
// connections and slow clients cannot pile up.
func newHTTPServer(h http.Handler, c config.HTTP) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(5*time.Second, c.ReadTimeout),
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
	}
}

// GRPCAddr is where the gRPC listener is bound; nil when it is off.
func (s *Server) GRPCAddr() net.Addr { return addrOf(s.grpcLn) }

// HTTPAddr is where the HTTP listener is bound; nil when it is off.
func (s *Server) HTTPAddr() net.Addr { return addrOf(s.httpLn) }

func addrOf(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// shownAddr is a listener's address for the log: "off" when there is none.
func shownAddr(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

// AdminAddr is where the admin listener is bound; nil when it is off.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.grpcLn, s.httpLn, s.adminLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

func (s *Server) setServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.ready.Store(ok)
	s.metrics.SetReady(ok)
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, st)
}

// Run serves until ctx ends, then drains: health and /readyz turn not
// serving while both doors keep answering for shutdown_delay (endpoints
// propagate), then in-flight Checks at both doors finish within one
// shutdown_grace, and the listeners close.
func (s *Server) Run(ctx context.Context) error {
	defer func() { s.live.cur.Load().Close() }()
	defer func() {
		// What is queued has a few seconds to reach the collector.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.traces.Shutdown(ctx)
	}()
	errc := make(chan error, 3)
	if s.grpcLn != nil {
		go func() { errc <- s.grpc.Serve(s.grpcLn) }()
	}
	if s.httpLn != nil {
		go func() {
			if err := s.lean.Serve(s.httpLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	if s.admin != nil {
		go func() {
			var err error
			if s.admin.TLSConfig != nil {
				err = s.admin.ServeTLS(s.adminLn, "", "")
			} else {
				err = s.admin.Serve(s.adminLn)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		s.log.Info("admin listener", "addr", s.adminLn.Addr().String())
	}
	for _, w := range s.cfg.Warnings {
		s.log.Warn("risky config", "warning", w)
	}
	s.log.Info("serving", "grpc", shownAddr(s.grpcLn), "http", shownAddr(s.httpLn))
	go func() {
		if s.live.cur.Load().waitReady(ctx) == nil {
			s.setServing(true)
			s.log.Info("ready: " + s.live.cur.Load().readiness())
		}
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.health.Shutdown()
	s.ready.Store(false)
	s.metrics.SetReady(false)
	if d := s.cfg.GRPC.ShutdownDelay; d > 0 && err == nil {
		s.log.Info("stopping: not ready, still answering while endpoints update", "delay", d)
		time.Sleep(d)
	}
	s.drain(s.cfg.GRPC.ShutdownGrace)
	s.log.Info("stopped")
	return err
}

// drain lets in-flight Checks at both doors finish within one grace
// period, then closes what is left.
func (s *Server) drain(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		stopped := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.log.Warn("shutdown grace over, closing remaining gRPC connections")
			s.grpc.Stop()
		}
	}()
	if s.httpLn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.lean.Shutdown(ctx) != nil {
				s.lean.Close()
			}
		}()
	}
	for _, hs := range []*http.Server{s.admin} {
		if hs == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if hs.Shutdown(ctx) != nil {
				// The grace passed with requests still running.
				hs.Close()
			}
		}()
	}
	wg.Wait()
}

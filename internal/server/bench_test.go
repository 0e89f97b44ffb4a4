package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/redistest"
)

// noopServer allows everything with one header: the floor any ext_authz
// server pays for gRPC on loopback, measured in the same run as authz.
type noopServer struct {
	authv3.UnimplementedAuthorizationServer
}

func (noopServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{
		Status: &status.Status{},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{overwriteHeader("x-user-id", "alice")},
		}},
	}, nil
}

func overwriteHeader(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
}

// benchRequest is a realistic CheckRequest: a dozen typical headers and a token.
func benchRequest(token string) *authv3.CheckRequest {
	r := newCheckRequest(withToken(token))
	for k, v := range map[string]string{
		"accept": "application/json", "accept-encoding": "gzip, br", "accept-language": "en-GB,en;q=0.9",
		"content-type": "application/json", "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https",
		"x-request-id": "3f1b8c2e-9a1d-4f7e-8b6a-2c5d9e0f1a2b", "x-envoy-expected-rq-timeout-ms": "15000",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	} {
		r.Attributes.Request.Http.Headers[k] = v
	}
	return r
}

func runChecks(b *testing.B, addr string, next func() *authv3.CheckRequest, want string) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Check(context.Background(), next())
			if err != nil {
				b.Error(err)
				return
			}
			if got := read(resp).Outcome; want != "" && got != want {
				b.Errorf("outcome %q, want %q", got, want)
				return
			}
		}
	})
}

// BenchmarkCheck compares authz with a no-op Check server under the same
// load in one run; read the ratios, not the absolute times.
func BenchmarkCheck(b *testing.B) {
	b.Run("noop", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		s := grpc.NewServer()
		authv3.RegisterAuthorizationServer(s, noopServer{})
		go s.Serve(ln)
		defer s.Stop()
		req := benchRequest("x")
		runChecks(b, ln.Addr().String(), func() *authv3.CheckRequest { return req }, "")
	})

	idp := newIdP(b)
	h := startWith(b, idp, baseConfig(idp))
	h.waitServing()
	const pool = 1000
	tokens := make([]*authv3.CheckRequest, pool)
	for i := range tokens {
		tokens[i] = benchRequest(h.mint("ec-1", idp.Claims(fmt.Sprintf("user-%d", i), 3600e9, "orders:read", "orders-api")))
	}
	b.Run("cache-hit", func(b *testing.B) {
		var n atomic.Int64
		runChecks(b, h.srv.grpcLn.Addr().String(), func() *authv3.CheckRequest { return tokens[n.Add(1)%pool] }, "allow")
	})

	// A cache TTL of 1ns makes every Check a miss with the same token: the
	// whole validation path, signature verification included.
	missCfg := baseConfig(idp)
	missCfg.Cache.TTL = time.Nanosecond
	miss := startWith(b, idp, missCfg)
	miss.waitServing()
	for _, kid := range []string{"rsa-1", "ec-1"} {
		req := benchRequest(miss.mint(kid, idp.Claims("alice", 3600e9, "orders:read", "orders-api")))
		b.Run("cache-miss-"+kid, func(b *testing.B) {
			runChecks(b, miss.srv.grpcLn.Addr().String(), func() *authv3.CheckRequest { return req }, "allow")
		})
	}

	// Opaque tokens through RFC 7662 introspection at the loopback IdP.
	ih := startWith(b, idp, introspectConfig(idp))
	ih.waitServing()
	opaque := make([]*authv3.CheckRequest, pool)
	for i := range opaque {
		opaque[i] = benchRequest(idp.IssueOpaque(idp.Claims(fmt.Sprintf("user-%d", i), 3600e9, "orders:read", "orders-api")))
	}
	b.Run("introspection-hit", func(b *testing.B) {
		var n atomic.Int64
		runChecks(b, ih.srv.grpcLn.Addr().String(), func() *authv3.CheckRequest { return opaque[n.Add(1)%pool] }, "allow")
	})
	// L1 miss, L2 hit: each Check first forgets the token in memory, so it
	// is read back from Redis (and opened) every time; against a single
	// node, a three-master Cluster and a Sentinel-managed master.
	for _, mode := range []string{"single", "cluster", "sentinel"} {
		b.Run("redis-l2-hit-"+mode, func(b *testing.B) {
			var cfg *config.Config
			switch mode {
			case "single":
				cfg = sharedConfig(b, idp, redistest.Start(b).Addr)
			case "cluster":
				nodes := redistest.StartCluster(b)
				cfg = modeConfig(b, idp, config.Redis{Mode: "cluster", Addrs: []string{nodes[0].Addr}, Timeout: time.Second})
			case "sentinel":
				s := redistest.StartSentinel(b)
				cfg = modeConfig(b, idp, config.Redis{Mode: "sentinel", Addrs: []string{s.Sentinel.Addr}, MasterName: redistest.SentinelMaster, Timeout: time.Second})
			}
			l2 := startWith(b, idp, cfg)
			l2.waitServing()
			tok := idp.IssueOpaque(idp.Claims("l2-"+mode, 3600e9, "orders:read", "orders-api"))
			req := benchRequest(tok)
			sum := sha256.Sum256([]byte(tok))
			l2.expect(l2.check(withToken(tok)), "allow", 200)
			n := idp.Introspections()
			runChecks(b, l2.srv.grpcLn.Addr().String(), func() *authv3.CheckRequest {
				l2.srv.current().auth.Forget(sum)
				return req
			}, "allow")
			if got := idp.Introspections() - n; got != 0 {
				b.Errorf("%d introspections: not an L2 hit", got)
			}
		})
	}
	imCfg := introspectConfig(idp)
	imCfg.Cache.TTL = time.Nanosecond
	im := startWith(b, idp, imCfg)
	im.waitServing()
	b.Run("introspection-miss", func(b *testing.B) {
		runChecks(b, im.srv.grpcLn.Addr().String(), func() *authv3.CheckRequest { return opaque[0] }, "allow")
	})
}

// BenchmarkHTTPDoor is the forward-auth door's own cost per request (the
// handler over the live core, no network): what nginx's auth_request
// subrequest costs authz on a cache hit.
func BenchmarkHTTPDoor(b *testing.B) {
	idp := newIdP(b)
	cfg := introspectConfig(idp)
	cfg.HTTP.Proxy = "nginx"
	h := startWith(b, idp, cfg)
	h.waitServing()
	opaque := idp.IssueOpaque(idp.Claims("alice", time.Hour, "orders:read", "orders-api"))
	req := httptest.NewRequest("GET", "/check", nil)
	for k, v := range map[string]string{
		"Authorization": "Bearer " + opaque, "X-Original-URI": "/orders/1?expand=items", "X-Original-Method": "GET",
		"X-Forwarded-Host": "shop.example:443", "X-Forwarded-Proto": "https", "User-Agent": "Mozilla/5.0", "Accept": "application/json",
		"X-Request-Id": "3f1b8c2e-9a1d-4f7e-8b6a-2c5d9e0f1a2b",
	} {
		req.Header.Set(k, v)
	}
	handler := h.srv.http.Handler
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("status %d", rec.Code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
	}
}

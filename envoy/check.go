package envoy

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authz-dev/authz/authz"
)

// gRPC metadata keys: a caller that sends ExplainKey is told the route,
// policy and rule of its decision in the response header metadata.
const (
	ExplainKey    = "x-authz-explain"
	RouteKey      = "x-authz-route"
	PolicyNameKey = "x-authz-policy"
	RuleKey       = "x-authz-rule"
)

// Door names this door in metrics and logs, SpanName its Check span.
const (
	Door     = "grpc"
	SpanName = "authz.Check"
)

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	auth authz.Decider
	obs  authz.Observer
}

// NewServer returns the gRPC door over auth; obs is told of every Check
// (nil: nothing is recorded).
func NewServer(auth authz.Decider, obs authz.Observer) *Server {
	if obs == nil {
		obs = authz.Unobserved{}
	}
	return &Server{auth: auth, obs: obs}
}

// Check answers one ext_authz Check. Every decision, errors included, is
// answered as a CheckResponse so the outcome stays visible to the client.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (resp *authv3.CheckResponse, err error) {
	// The door's own code (reading the request, rendering the answer) runs
	// outside the core's recovery: a panic here answers error too.
	defer func() {
		if r := recover(); r != nil {
			s.obs.Panicked(Door, r, debug.Stack())
			d := authz.Decision{Outcome: authz.Error, Reason: fmt.Sprintf("panic: %v", r), Description: "authorization failed"}
			resp, err = toResponse(&d, s.auth.Answers()), nil
		}
	}()
	start := time.Now()
	r := toRequest(req)
	ctx = s.obs.CheckStarted(ctx, Door, r.Header)
	d := s.auth.Authorize(ctx, r)
	s.obs.CheckDone(ctx, &d, Door, requestID(r.Header), time.Since(start))
	if len(metadata.ValueFromIncomingContext(ctx, ExplainKey)) > 0 {
		// Response metadata Envoy ignores: for `authz check`, which asks.
		// An error only means the RPC is gone; there is no one to tell.
		_ = grpc.SetHeader(ctx, metadata.Pairs(RouteKey, d.Route, PolicyNameKey, d.Policy, RuleKey, d.Rule))
	}
	if d.Outcome == authz.Error && d.ErrorMode == authz.ErrorRPC {
		// A CheckResponse, even a denial, is final for Envoy; only a failed
		// RPC lets failure_mode_allow and status_on_error apply.
		return nil, status.Error(codes.Unavailable, "authz: "+d.Description)
	}
	return toResponse(&d, s.auth.Answers()), nil
}

// requestID is the proxy's x-request-id, from whichever header form
// carries it (header_map, with encode_raw_headers).
func requestID(h authz.Header) string {
	if vs := h.Values("x-request-id"); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

package envoy

import (
	"context"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/authz"
)

// Authorizer is what the door needs from the core.
type Authorizer interface {
	Authorize(ctx context.Context, req *authz.Request) authz.Decision
}

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	auth    Authorizer
	answers *authz.Answers
	log     *slog.Logger
}

// NewServer returns the gRPC door over auth.
func NewServer(auth Authorizer, answers *authz.Answers, log *slog.Logger) *Server {
	return &Server{auth: auth, answers: answers, log: log}
}

// Check answers one ext_authz Check. Every decision, errors included, is
// answered as a CheckResponse so the outcome stays visible to the client.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	r := toRequest(req)
	d := s.auth.Authorize(ctx, r)
	var requestID string
	if ids := r.Header.Values("x-request-id"); len(ids) > 0 {
		requestID = ids[0]
	}
	authz.LogDecision(ctx, s.log, &d, "grpc", requestID, time.Since(start))
	return toResponse(&d, s.answers), nil
}

package server

import (
	"context"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverUnary turns a handler's panic into an Internal error, reported
// once with its stack: a panic never takes the process down.
func recoverUnary(report func(where string, recovered any, stack []byte)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				report("grpc", r, debug.Stack())
				resp, err = nil, status.Error(codes.Internal, "authz: internal error")
			}
		}()
		return handler(ctx, req)
	}
}

// recoverStream is recoverUnary for streaming handlers.
func recoverStream(report func(where string, recovered any, stack []byte)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				report("grpc", r, debug.Stack())
				err = status.Error(codes.Internal, "authz: internal error")
			}
		}()
		return handler(srv, ss)
	}
}

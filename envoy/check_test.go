package envoy

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authz-dev/authz/authz"
)

// flakyCore panics on its first Check (a door-side bug, say in rendering)
// and allows afterwards.
type flakyCore struct{ calls atomic.Int64 }

func (c *flakyCore) Authorize(context.Context, *authz.Request) authz.Decision {
	if c.calls.Add(1) == 1 {
		panic("door bug")
	}
	return authz.Decision{Outcome: authz.Allow}
}

func (c *flakyCore) Answers() *authz.Answers { return authz.DefaultAnswers() }

type panicLog struct{ wheres []string }

func (panicLog) CheckStarted(ctx context.Context, _ string, _ authz.Header) context.Context {
	return ctx
}
func (panicLog) CheckDone(context.Context, *authz.Decision, string, string, time.Duration) {}
func (p *panicLog) Panicked(where string, _ any, _ []byte)                                 { p.wheres = append(p.wheres, where) }

// A panic under Check, over a real gRPC connection, answers the error
// outcome as a CheckResponse (never a failed RPC Envoy might fail open
// on), and the server answers the next Check.
func TestAPanicAnswersErrorAndTheServerGoesOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := &panicLog{}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, NewServer(&flakyCore{}, log))
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	check := func() *authv3.CheckResponse {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, checkRequest(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/"}, nil))
		if err != nil {
			t.Fatalf("Check failed as an RPC: %v", err)
		}
		return resp
	}
	if resp := check(); codes.Code(resp.GetStatus().GetCode()) != codes.Unavailable || resp.GetDeniedResponse().GetStatus().GetCode() != 503 {
		t.Errorf("the panicking Check: %v", resp)
	}
	if resp := check(); codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		t.Errorf("the next Check: %v", resp)
	}
	if len(log.wheres) != 1 || log.wheres[0] != Door {
		t.Errorf("panics reported at %v", log.wheres)
	}
}

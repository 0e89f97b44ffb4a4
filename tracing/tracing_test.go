package tracing

import (
	"context"
	"testing"

	"github.com/authz-dev/authz/authz"
)

func TestOffCostsNothing(t *testing.T) {
	p := Off()
	ctx := context.Background()
	if got := p.StartCheck(ctx, "authz.Check", authz.MapHeader{"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}); got != ctx {
		t.Error("tracing off still derived a context")
	}
	if TraceID(ctx) != "" || p.On() {
		t.Error("tracing off reports a trace")
	}
}

func TestTraceIDOnlyForSampledOrProxyTraces(t *testing.T) {
	p, err := New(context.Background(), Options{Endpoint: "127.0.0.1:1", Insecure: true, Ratio: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	root := p.StartCheck(context.Background(), "authz.Check", authz.MapHeader{})
	if id := TraceID(root); id != "" {
		t.Errorf("an unsampled root Check logs trace id %s", id)
	}
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	unsampled := p.StartCheck(context.Background(), "authz.Check", authz.MapHeader{"traceparent": {"00-" + id + "-00f067aa0ba902b7-00"}})
	if got := TraceID(unsampled); got != id {
		t.Errorf("the proxy's unsampled trace logs %q, want %s", got, id)
	}
}

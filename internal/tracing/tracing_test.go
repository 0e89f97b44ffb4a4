package tracing

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

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
	p, err := New(context.Background(), Options{Settings: Settings{OTLPEndpoint: "127.0.0.1:1", Insecure: true, Parent: ParentFollow}})
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

// By default the headers' trace context is a link: a client's sampled
// traceparent neither samples the span nor names the logged trace id.
func TestAClientsTraceparentIsOnlyALink(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	sampled := authz.MapHeader{"traceparent": {"00-" + id + "-00f067aa0ba902b7-01"}}
	p, err := New(context.Background(), Options{Settings: Settings{OTLPEndpoint: "127.0.0.1:1", Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	ctx := p.StartCheck(context.Background(), "authz.Check", sampled)
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() || sc.TraceID().String() == id {
		t.Errorf("at ratio 0 the client's sampled traceparent gave span %v", sc)
	}
	if got := TraceID(ctx); got != "" {
		t.Errorf("logged trace id %q", got)
	}

	all, err := New(context.Background(), Options{Settings: Settings{OTLPEndpoint: "127.0.0.1:1", Insecure: true, Ratio: ratio(1)}})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Shutdown(context.Background())
	ctx = all.StartCheck(context.Background(), "authz.Check", sampled)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() || sc.TraceID().String() == id || TraceID(ctx) != sc.TraceID().String() {
		t.Errorf("at ratio 1: span %v, logged %q; want authz's own sampled trace", sc, TraceID(ctx))
	}
	ro, ok := trace.SpanFromContext(ctx).(sdktrace.ReadOnlySpan)
	if !ok {
		t.Fatal("not an SDK span")
	}
	if links := ro.Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != id {
		t.Errorf("links %v, want the request's trace context", links)
	}
}

func ratio(r float64) *float64 { return &r }

// Package tracing exports OpenTelemetry spans of every Check: one per
// Check, linked to (or, when the operator trusts the proxy's tracing, a
// child of) the trace context in the request's headers (W3C traceparent,
// or B3 single and multi header), with children for the IdP, JWKS and
// Redis calls it made.
package tracing

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding/gzip" // registers the compressor exports name

	"github.com/authz-dev/authz/authz"
)

// Options configure the exporter and the sampler: the config's Settings,
// and what the process adds.
type Options struct {
	Settings
	// TLS, when set, secures the connection (built from the Settings'
	// files); nil with Insecure sends plaintext (a collector sidecar on
	// loopback).
	TLS *tls.Config
	// OnDrop is told of spans dropped (reason queue_full or export_failed).
	OnDrop func(reason string, n int)
	// Logger hears of failed exports, at most once a minute.
	Logger *slog.Logger
}

// Provider starts Check spans and hands tracers to the clients that make
// child spans.
type Provider struct {
	tp           *sdktrace.TracerProvider
	tracer       trace.Tracer
	prop         propagation.TextMapPropagator
	followParent bool
}

// Off is a Provider that traces nothing, at no cost.
func Off() *Provider {
	return &Provider{tracer: noop.NewTracerProvider().Tracer("")}
}

// New connects the exporter lazily (a collector that is down delays
// nothing) and returns the Provider; Shutdown flushes it.
func New(ctx context.Context, opts Options) (*Provider, error) {
	if opts.OTLPEndpoint == "" {
		return Off(), nil
	}
	opts.Defaults()
	if opts.OnDrop == nil {
		opts.OnDrop = func(string, int) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	eo := []otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(opts.OTLPEndpoint), otlptracegrpc.WithTimeout(opts.ExportTimeout),
		// Retries end with the export's own time: a batch is dropped (and
		// counted) rather than held while newer spans queue behind it.
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: opts.ExportTimeout}),
	}
	if opts.Compression == "gzip" {
		eo = append(eo, otlptracegrpc.WithCompressor(gzip.Name))
	}
	switch {
	case opts.TLS != nil:
		eo = append(eo, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(opts.TLS)))
	case opts.Insecure:
		eo = append(eo, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, eo...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter %s: %w", opts.OTLPEndpoint, err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", opts.ServiceName)}
	keys := make([]string, 0, len(opts.ResourceAttributes))
	for k := range opts.ResourceAttributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, attribute.String(k, opts.ResourceAttributes[k]))
	}
	q := &queue{max: int64(opts.MaxQueue), onDrop: opts.OnDrop}
	// The SDK's queue is twice ours, so every drop happens here, counted.
	bsp := sdktrace.NewBatchSpanProcessor(&countingExporter{SpanExporter: exp, q: q, log: opts.Logger, endpoint: opts.OTLPEndpoint},
		sdktrace.WithBatchTimeout(opts.BatchTimeout), sdktrace.WithMaxQueueSize(2*opts.MaxQueue))
	q.SpanProcessor = bsp
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*opts.Ratio))),
		sdktrace.WithSpanProcessor(q),
	)
	return &Provider{
		tp:           tp,
		tracer:       tp.Tracer("github.com/authz-dev/authz"),
		prop:         propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, b3.New()),
		followParent: opts.Parent == ParentFollow,
	}, nil
}

// Tracer is for the clients' child spans (JWKS, introspection, Redis).
func (p *Provider) Tracer() trace.Tracer { return p.tracer }

// On reports whether spans are exported.
func (p *Provider) On() bool { return p.tp != nil }

// Shutdown sends what is queued, within ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.tp == nil {
		return nil
	}
	return p.tp.Shutdown(ctx)
}

// StartCheck starts a Check's span, named for its door: a child of the
// trace context in the request's headers with FollowParent, else a root
// that links to it.
func (p *Provider) StartCheck(ctx context.Context, name string, h authz.Header) context.Context {
	if p.tp == nil {
		return ctx
	}
	if p.followParent {
		ctx = p.prop.Extract(ctx, carrier{h})
		if trace.SpanContextFromContext(ctx).IsValid() {
			ctx = context.WithValue(ctx, parentKey{}, true)
		}
		ctx, _ = p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
		return ctx
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithNewRoot()}
	if sc := trace.SpanContextFromContext(p.prop.Extract(context.Background(), carrier{h})); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	ctx, _ = p.tracer.Start(ctx, name, opts...)
	return ctx
}

type parentKey struct{}

// TraceID is the Check's trace id for its log line: when its span is
// sampled, or when a trusted proxy sent the trace (FollowParent: the line
// joins the proxy's trace even when authz's span is not kept); "" otherwise.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() && ctx.Value(parentKey{}) == nil {
		return ""
	}
	return sc.TraceID().String()
}

// carrier reads an authz.Header for the propagators (keys lower-case).
type carrier struct{ h authz.Header }

func (c carrier) Get(key string) string {
	if v := c.h.Values(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c carrier) Set(string, string) {}

func (c carrier) Keys() []string {
	var keys []string
	c.h.Names(func(n string) { keys = append(keys, n) })
	return keys
}

// queue bounds the spans waiting for export and counts what it drops:
// a collector that is slow or down costs spans, never Check latency.
type queue struct {
	sdktrace.SpanProcessor
	max     int64
	waiting atomic.Int64
	onDrop  func(reason string, n int)
}

func (q *queue) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if q.waiting.Add(1) > q.max {
		q.waiting.Add(-1)
		q.onDrop("queue_full", 1)
		return
	}
	q.SpanProcessor.OnEnd(s)
}

// countingExporter tells the queue what left it, and counts and logs
// what the collector did not take. The failure goes no further: the SDK
// would print it to the standard logger on every batch.
type countingExporter struct {
	sdktrace.SpanExporter
	q          *queue
	log        *slog.Logger
	endpoint   string
	lastLogged atomic.Int64 // unix nanoseconds
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.q.waiting.Add(-int64(len(spans)))
	if err != nil {
		e.q.onDrop("export_failed", len(spans))
		now := time.Now().UnixNano()
		if last := e.lastLogged.Load(); now-last > int64(time.Minute) && e.lastLogged.CompareAndSwap(last, now) {
			e.log.Warn("trace export failed, spans dropped", "otlp_endpoint", e.endpoint, "spans", len(spans), "err", err)
		}
	}
	return nil
}

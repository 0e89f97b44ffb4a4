// Package otlptest is an in-process OTLP trace collector for tests: the
// gRPC trace service a real collector runs, on loopback, holding what it
// receives.
package otlptest

import (
	"context"
	"encoding/hex"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // a collector takes gzip, as real ones do
	"google.golang.org/grpc/stats"
)

// Collector is an in-process OTLP gRPC receiver: the trace service a real
// collector runs, on loopback. Addr is where an exporter sends.
type Collector struct {
	collectortrace.UnimplementedTraceServiceServer
	Addr      string
	mu        sync.Mutex
	spans     []*tracepb.Span
	encodings []string
}

// Start starts a Collector that stops with the test.
func Start(tb testing.TB) *Collector {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Collector{Addr: ln.Addr().String()}
	s := grpc.NewServer(grpc.StatsHandler(encodings{c}))
	collectortrace.RegisterTraceServiceServer(s, c)
	go s.Serve(ln)
	tb.Cleanup(s.Stop)
	return c
}

// Export is the trace service's one call.
func (c *Collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// Find waits for the spans of one trace, up to 5 s, until want of them
// have arrived, and returns those that have.
func (c *Collector) Find(traceID string, want int) []*tracepb.Span {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out []*tracepb.Span
		c.mu.Lock()
		for _, s := range c.spans {
			if hex.EncodeToString(s.GetTraceId()) == traceID {
				out = append(out, s)
			}
		}
		c.mu.Unlock()
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// encodings records each call's compression, as the transport read it.
type encodings struct{ c *Collector }

func (e encodings) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (e encodings) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (e encodings) HandleConn(context.Context, stats.ConnStats) {}
func (e encodings) HandleRPC(_ context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		e.c.mu.Lock()
		e.c.encodings = append(e.c.encodings, h.Compression)
		e.c.mu.Unlock()
	}
}

// Encodings are the grpc-encoding of each export received ("" for none).
func (c *Collector) Encodings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.encodings)
}

// Named is the span called name among spans, or nil.
func Named(spans []*tracepb.Span, name string) *tracepb.Span {
	for _, s := range spans {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}

// Attr is the span's attribute key as text ("" when it has none).
func Attr(s *tracepb.Span, key string) string {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			if v := kv.GetValue(); v.GetStringValue() != "" {
				return v.GetStringValue()
			} else {
				return strings.TrimSpace(strings.TrimPrefix(v.String(), "int_value:"))
			}
		}
	}
	return ""
}

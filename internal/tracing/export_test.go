package tracing

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/otlptest"
	"github.com/authz-dev/authz/internal/testlog"
	"github.com/authz-dev/authz/internal/testsupport"
)

// What reaches a real OTLP receiver over gRPC: the parents a proxy's
// headers name, what an unsampled parent exports, a client's context as
// a link, and drops counted when the collector is gone. (Spans of real
// Checks — the IdP call as a child, the door's span, the decision log's
// trace id — are the server's suite.)

// exportOne starts a Check span for h, ends it, and flushes.
func exportOne(t *testing.T, p *Provider, h authz.Header) trace.SpanContext {
	t.Helper()
	ctx := p.StartCheck(context.Background(), "authz.Check", h)
	trace.SpanFromContext(ctx).End()
	return trace.SpanContextFromContext(ctx)
}

func newProvider(t *testing.T, opts Options) *Provider {
	t.Helper()
	opts.Insecure, opts.BatchTimeout = true, 20*time.Millisecond
	p, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return p
}

func TestAProxysParentIsFollowed(t *testing.T) {
	col := otlptest.Start(t)
	p := newProvider(t, Options{Settings: Settings{OTLPEndpoint: col.Addr, Parent: ParentFollow}})
	for _, c := range []struct {
		name, trace, parent string
		h                   authz.MapHeader
	}{
		{"W3C traceparent", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
			authz.MapHeader{"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}},
		{"B3 single header", "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1",
			authz.MapHeader{"b3": {"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}}},
		{"B3 multi header", "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312",
			authz.MapHeader{"x-b3-traceid": {"463ac35c9f6413ad48485a3953bb6124"}, "x-b3-spanid": {"a2fb4a1d1a96d312"}, "x-b3-sampled": {"1"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			exportOne(t, p, c.h)
			check := otlptest.Named(col.Find(c.trace, 1), "authz.Check")
			if check == nil || hex.EncodeToString(check.GetParentSpanId()) != c.parent {
				t.Fatalf("no Check span under the parent %s: %v", c.parent, check)
			}
		})
	}

	t.Run("an unsampled parent exports nothing", func(t *testing.T) {
		const id = "0af7651916cd43dd8448eb211c80319c"
		exportOne(t, p, authz.MapHeader{"traceparent": {"00-" + id + "-b7ad6b7169203331-00"}})
		// A sampled span after it: once it arrives, the unsampled one
		// would have too.
		const later = "1af7651916cd43dd8448eb211c80319c"
		exportOne(t, p, authz.MapHeader{"traceparent": {"00-" + later + "-b7ad6b7169203331-01"}})
		if len(col.Find(later, 1)) != 1 {
			t.Fatal("the sampled span never arrived")
		}
		if spans := col.Find(id, 0); len(spans) != 0 {
			t.Fatalf("an unsampled parent produced %d spans", len(spans))
		}
	})
}

// By default a client's sampled traceparent is a link of authz's own root
// span: nothing is exported under the client's trace id.
func TestAClientsTraceIsOnlyLinkedInTheExport(t *testing.T) {
	col := otlptest.Start(t)
	p := newProvider(t, Options{Settings: Settings{OTLPEndpoint: col.Addr, Ratio: ratio(1)}})
	const client = "5bf92f3577b34da6a3ce929d0e0e4736"
	own := exportOne(t, p, authz.MapHeader{"traceparent": {"00-" + client + "-00f067aa0ba902b7-01"}})
	check := otlptest.Named(col.Find(own.TraceID().String(), 1), "authz.Check")
	if check == nil || len(check.GetParentSpanId()) != 0 {
		t.Fatalf("authz's span %v, want a root", check)
	}
	if links := check.GetLinks(); len(links) != 1 || hex.EncodeToString(links[0].GetTraceId()) != client {
		t.Errorf("links %v, want the client's trace context", links)
	}
	if spans := col.Find(client, 0); len(spans) != 0 {
		t.Errorf("%d spans exported under the client's trace id", len(spans))
	}
	if check.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("the Check span's kind %v, want server", check.GetKind())
	}
}

// With the collector down, spans are dropped and counted — a full queue
// and failed exports both — and the failure is logged; a span's start and
// end never wait.
func TestADeadCollectorCostsSpansNotChecks(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	var mu sync.Mutex
	dropped := map[string]int{}
	logs := &testlog.Buffer{}
	p := newProvider(t, Options{Settings: Settings{OTLPEndpoint: dead, Parent: ParentFollow, MaxQueue: 5, ExportTimeout: 200 * time.Millisecond},
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), OnDrop: func(reason string, n int) { mu.Lock(); dropped[reason] += n; mu.Unlock() }})
	for range 40 {
		exportOne(t, p, authz.MapHeader{"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	}
	testsupport.WaitFor(t, "all 40 spans dropped, by both reasons", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return dropped["queue_full"] > 0 && dropped["export_failed"] > 0 && dropped["queue_full"]+dropped["export_failed"] == 40
	})
	if !strings.Contains(logs.String(), "trace export failed") {
		t.Error("the failed export was not logged")
	}
}

// compression: gzip compresses every export; by default none is.
func TestCompressedExports(t *testing.T) {
	for _, c := range []struct{ setting, want string }{{"", ""}, {"gzip", "gzip"}} {
		col := otlptest.Start(t)
		p := newProvider(t, Options{Settings: Settings{OTLPEndpoint: col.Addr, Ratio: ratio(1), Compression: c.setting}})
		own := exportOne(t, p, authz.MapHeader{})
		if len(col.Find(own.TraceID().String(), 1)) != 1 {
			t.Fatalf("compression %q: the span never arrived", c.setting)
		}
		if got := col.Encodings(); len(got) == 0 || got[0] != c.want {
			t.Errorf("compression %q: exports encoded %q, want %q", c.setting, got, c.want)
		}
	}
}

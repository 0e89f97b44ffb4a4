package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/redistest"
	"github.com/authz-dev/authz/internal/testsupport"
)

// collector is an in-process OTLP gRPC receiver: the trace service a real
// collector runs, on loopback.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
	addr  string
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{addr: ln.Addr().String()}
	s := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(s, c)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return c
}

func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// find waits for the spans of one trace, up to 5 s, until want of them
// have arrived.
func (c *collector) find(t *testing.T, traceID string, want int) []*tracepb.Span {
	t.Helper()
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

func named(spans []*tracepb.Span, name string) *tracepb.Span {
	for _, s := range spans {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}

func attr(s *tracepb.Span, key string) string {
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

// tracingConfig traces to endpoint behind a proxy trusted to set the trace
// headers (parent: follow).
func tracingConfig(cfg *config.Config, endpoint string) *config.Config {
	cfg.Tracing = config.Tracing{OTLPEndpoint: endpoint, Insecure: true, BatchTimeout: 50 * time.Millisecond, ServiceName: "authz-test", Parent: "follow"}
	cfg.Log.Allow = true
	return cfg
}

const (
	traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentID = "00f067aa0ba902b7"
)

func TestTracesOfChecks(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	col := startCollector(t)
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Introspection[0].Timeout = 10 * time.Second // the held IdP below
	h := startWith(t, idp, tracingConfig(cfg, col.addr))
	h.waitServing()

	t.Run("W3C parent, and the IdP call as a child", func(t *testing.T) {
		opaque := idp.IssueOpaque(idp.Claims("alice", time.Hour, "orders:read", "orders-api"))
		h.expect(h.check(withToken(opaque), withHeader("traceparent", "00-"+traceID+"-"+parentID+"-01"), withHeader("x-request-id", "req-42")), "allow", 200)
		spans := col.find(t, traceID, 2)
		check, idpCall := named(spans, "authz.Check"), named(spans, "authz.introspect")
		if check == nil || idpCall == nil {
			t.Fatalf("spans of the trace: %v", spans)
		}
		if got := hex.EncodeToString(check.GetParentSpanId()); got != parentID {
			t.Errorf("Check span's parent %s, want the proxy's %s", got, parentID)
		}
		if string(idpCall.GetParentSpanId()) != string(check.GetSpanId()) {
			t.Error("the introspection span is not a child of the Check span")
		}
		if attr(idpCall, "http.response.status_code") != "200" {
			t.Errorf("introspection status attribute %q", attr(idpCall, "http.response.status_code"))
		}
		for k, want := range map[string]string{"authz.outcome": "allow", "authz.policy": "default", "authz.cache": "miss", "authz.validator": "corp-introspect", "http.response.status_code": "200"} {
			if got := attr(check, k); got != want {
				t.Errorf("Check span %s = %q, want %q", k, got, want)
			}
		}
		for _, kv := range check.GetAttributes() {
			if strings.Contains(kv.GetValue().String(), opaque) {
				t.Errorf("the token is in span attribute %s", kv.GetKey())
			}
		}
		if !strings.Contains(h.logs.String(), `"trace_id":"`+traceID+`"`) || !strings.Contains(h.logs.String(), `"request_id":"req-42"`) {
			t.Errorf("decision log without trace_id and request_id: %s", h.logs.String())
		}
	})

	t.Run("a root Check at ratio 0: no span, no made-up trace id in the log", func(t *testing.T) {
		h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withHeader("x-request-id", "req-root")), "allow", 200)
		for _, line := range strings.Split(h.logs.String(), "\n") {
			if strings.Contains(line, `"request_id":"req-root"`) && strings.Contains(line, "trace_id") {
				t.Errorf("log line of an untraced root Check has a trace id: %s", line)
			}
		}
	})

	t.Run("B3 single header", func(t *testing.T) {
		const id = "80f198ee56343ba864fe8b2a57d3eff7"
		h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withHeader("b3", id+"-e457b5a2e4d86bd1-1")), "allow", 200)
		check := named(col.find(t, id, 1), "authz.Check")
		if check == nil || hex.EncodeToString(check.GetParentSpanId()) != "e457b5a2e4d86bd1" {
			t.Fatalf("no Check span under the B3 parent: %v", check)
		}
	})

	t.Run("B3 multi header", func(t *testing.T) {
		const id = "463ac35c9f6413ad48485a3953bb6124"
		h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withHeader("x-b3-traceid", id), withHeader("x-b3-spanid", "a2fb4a1d1a96d312"), withHeader("x-b3-sampled", "1")), "allow", 200)
		check := named(col.find(t, id, 1), "authz.Check")
		if check == nil || hex.EncodeToString(check.GetParentSpanId()) != "a2fb4a1d1a96d312" {
			t.Fatalf("no Check span under the B3 parent: %v", check)
		}
	})

	t.Run("unsampled parent exports nothing", func(t *testing.T) {
		const id = "0af7651916cd43dd8448eb211c80319c"
		h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withHeader("traceparent", "00-"+id+"-b7ad6b7169203331-00")), "allow", 200)
		// A sampled Check after it: once its span arrives, the unsampled
		// one would have too.
		const later = "1af7651916cd43dd8448eb211c80319c"
		h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withHeader("traceparent", "00-"+later+"-b7ad6b7169203331-01")), "allow", 200)
		col.find(t, later, 1)
		if spans := col.find(t, id, 0); len(spans) != 0 {
			t.Fatalf("an unsampled parent produced %d spans", len(spans))
		}
	})

	t.Run("a collapsed waiter links to the span that did the work", func(t *testing.T) {
		opaque := idp.IssueOpaque(idp.Claims("bob", time.Hour, "orders:read", "orders-api"))
		ids := []string{"2af7651916cd43dd8448eb211c80319c", "3af7651916cd43dd8448eb211c80319c"}
		release := idp.Hold()
		defer release()
		checkTraced := func(id string, wg *sync.WaitGroup) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := h.client.Check(ctx, newCheckRequest(withToken(opaque), withHeader("traceparent", "00-"+id+"-b7ad6b7169203331-01"))); err != nil {
					t.Errorf("Check: %v", err)
				}
			}()
		}
		// The first Check's introspection is out and held; the second
		// joins its flight; then the IdP answers.
		var wg sync.WaitGroup
		n := idp.Introspections()
		checkTraced(ids[0], &wg)
		testsupport.WaitFor(t, "the first Check's introspection", func() bool { return idp.Introspections() > n })
		checkTraced(ids[1], &wg)
		testsupport.WaitFor(t, "the second Check in the first one's flight", func() bool { return h.metric("authz_validations_waiting") == 2 })
		release()
		wg.Wait()
		leader, waiter := named(col.find(t, ids[0], 2), "authz.Check"), named(col.find(t, ids[1], 1), "authz.Check")
		if leader == nil || waiter == nil {
			t.Fatal("missing Check spans")
		}
		if len(waiter.GetLinks()) != 1 || string(waiter.GetLinks()[0].GetSpanId()) != string(leader.GetSpanId()) {
			t.Errorf("waiter's links %v, want the leader's span", waiter.GetLinks())
		}
		if len(col.find(t, ids[1], 0)) != 1 { // what has arrived by now

			t.Error("the waiter's trace has an introspection of its own")
		}
	})
}

// TestDeadCollector: Checks are answered while the collector is down;
// the spans are dropped and counted.
func TestDeadCollector(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	idp := newIdP(t)
	cfg := tracingConfig(baseConfig(idp), dead)
	cfg.Tracing.MaxQueue = 5
	cfg.Tracing.ExportTimeout = 200 * time.Millisecond
	h := startWith(t, idp, cfg)
	h.waitServing()
	tok := h.mint("rsa-1", h.validClaims())
	for range 40 {
		h.expect(h.check(withToken(tok), withHeader("traceparent", "00-"+traceID+"-"+parentID+"-01")), "allow", 200)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		full, failed := h.metric(`authz_trace_spans_dropped_total{reason="queue_full"}`), h.metric(`authz_trace_spans_dropped_total{reason="export_failed"}`)
		if full > 0 && failed > 0 && full+failed == 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dropped spans: queue_full %v, export_failed %v; want both, 40 in all", full, failed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(h.logs.String(), "trace export failed") {
		t.Error("the failed export was not logged")
	}
}

// TestTracesOfTheHTTPDoorAndRedis: the forward-auth door's span, with the
// shared tier's calls as its children.
func TestTracesOfTheHTTPDoorAndRedis(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	col := startCollector(t)
	rs := redistest.Start(t)
	idp := newIdP(t)
	h := startWith(t, idp, tracingConfig(sharedConfig(t, idp, rs.Addr), col.addr))
	h.waitServing()
	const id = "5bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", "http://"+h.srv.httpLn.Addr().String()+"/check", nil)
	req.Header.Set("Authorization", "Bearer "+idp.IssueOpaque(idp.Claims("alice", time.Hour, "orders:read", "orders-api")))
	req.Header.Set("Traceparent", "00-"+id+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The door; Redis GET, the lease, GET again (the lease was free), the
	// introspection, Redis SET.
	spans := col.find(t, id, 6)
	door := named(spans, "authz.forward_auth")
	if door == nil || hex.EncodeToString(door.GetParentSpanId()) != parentID {
		t.Fatalf("no forward_auth span under the proxy's parent: %v", spans)
	}
	for _, name := range []string{"authz.redis GET", "authz.redis SET NX lease", "authz.introspect", "authz.redis SET"} {
		s := named(spans, name)
		if s == nil || string(s.GetParentSpanId()) != string(door.GetSpanId()) {
			t.Errorf("%s is not a child of the door's span (spans %v)", name, spans)
		}
	}
}

// By default (tracing.parent: link) a client's own sampled traceparent
// does not choose what is exported nor the trace id in the decision log:
// at ratio 0 nothing is, and at ratio 1 authz's span is a root of its own
// that links to the client's context.
func TestAClientsTraceparentIsOnlyALink(t *testing.T) {
	t.Parallel()
	col := startCollector(t)
	idp := newIdP(t)
	const clientTrace = "5bf92f3577b34da6a3ce929d0e0e4736"
	traceIDs := func(h *harness, requestID string) []string {
		var ids []string
		for _, line := range strings.Split(h.logs.String(), "\n") {
			if !strings.Contains(line, `"request_id":"`+requestID+`"`) {
				continue
			}
			var entry struct {
				TraceID string `json:"trace_id"`
			}
			json.Unmarshal([]byte(line), &entry)
			ids = append(ids, entry.TraceID)
		}
		return ids
	}
	for _, ratio := range []float64{0, 1} {
		cfg := tracingConfig(baseConfig(idp), col.addr)
		cfg.Tracing.Parent, cfg.Tracing.Ratio = "", ptr(ratio) // the default
		h := startWith(t, idp, cfg)
		h.waitServing()
		reqID := fmt.Sprint("req-ratio-", ratio)
		h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withHeader("traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01"), withHeader("x-request-id", reqID)), "allow", 200)
		ids := traceIDs(h, reqID)
		if len(ids) != 1 {
			t.Fatalf("ratio %v: decision lines %v", ratio, ids)
		}
		if ratio == 0 {
			if ids[0] != "" {
				t.Errorf("ratio 0: the decision log names trace %q", ids[0])
			}
			continue
		}
		own := ids[0]
		if own == "" || own == clientTrace {
			t.Fatalf("ratio 1: logged trace %q, want authz's own", own)
		}
		check := named(col.find(t, own, 1), "authz.Check")
		if check == nil || len(check.GetParentSpanId()) != 0 {
			t.Fatalf("ratio 1: authz's span %v, want a root", check)
		}
		if links := check.GetLinks(); len(links) != 1 || hex.EncodeToString(links[0].GetTraceId()) != clientTrace {
			t.Errorf("links %v, want the client's trace context", links)
		}
		if spans := col.find(t, clientTrace, 0); len(spans) != 0 {
			t.Errorf("%d spans exported under the client's trace id", len(spans))
		}
	}
}

package server

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/otlptest"
	"github.com/authz-dev/authz/internal/redistest"
	"github.com/authz-dev/authz/internal/testsupport"
)

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
	col := otlptest.Start(t)
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Introspection[0].Timeout = 10 * time.Second // the held IdP below
	h := startWith(t, idp, tracingConfig(cfg, col.Addr))
	h.waitServing()

	t.Run("W3C parent, and the IdP call as a child", func(t *testing.T) {
		opaque := idp.IssueOpaque(idp.Claims("alice", time.Hour, "orders:read", "orders-api"))
		h.expect(h.check(withToken(opaque), withHeader("traceparent", "00-"+traceID+"-"+parentID+"-01"), withHeader("x-request-id", "req-42")), "allow", 200)
		spans := col.Find(traceID, 2)
		check, idpCall := otlptest.Named(spans, "authz.Check"), otlptest.Named(spans, "authz.introspect")
		if check == nil || idpCall == nil {
			t.Fatalf("spans of the trace: %v", spans)
		}
		if got := hex.EncodeToString(check.GetParentSpanId()); got != parentID {
			t.Errorf("Check span's parent %s, want the proxy's %s", got, parentID)
		}
		if string(idpCall.GetParentSpanId()) != string(check.GetSpanId()) {
			t.Error("the introspection span is not a child of the Check span")
		}
		if otlptest.Attr(idpCall, "http.response.status_code") != "200" {
			t.Errorf("introspection status attribute %q", otlptest.Attr(idpCall, "http.response.status_code"))
		}
		for k, want := range map[string]string{"authz.outcome": "allow", "authz.policy": "default", "authz.cache": "miss", "authz.validator": "corp-introspect", "http.response.status_code": "200"} {
			if got := otlptest.Attr(check, k); got != want {
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
		leader, waiter := otlptest.Named(col.Find(ids[0], 2), "authz.Check"), otlptest.Named(col.Find(ids[1], 1), "authz.Check")
		if leader == nil || waiter == nil {
			t.Fatal("missing Check spans")
		}
		if len(waiter.GetLinks()) != 1 || string(waiter.GetLinks()[0].GetSpanId()) != string(leader.GetSpanId()) {
			t.Errorf("waiter's links %v, want the leader's span", waiter.GetLinks())
		}
		if len(col.Find(ids[1], 0)) != 1 { // what has arrived by now

			t.Error("the waiter's trace has an introspection of its own")
		}
	})
}

// TestTracesOfTheHTTPDoorAndRedis: the forward-auth door's span, with the
// shared tier's calls as its children.
func TestTracesOfTheHTTPDoorAndRedis(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	col := otlptest.Start(t)
	rs := redistest.Start(t)
	idp := newIdP(t)
	h := startWith(t, idp, tracingConfig(sharedConfig(t, idp, rs.Addr), col.Addr))
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
	spans := col.Find(id, 6)
	door := otlptest.Named(spans, "authz.forward_auth")
	if door == nil || hex.EncodeToString(door.GetParentSpanId()) != parentID {
		t.Fatalf("no forward_auth span under the proxy's parent: %v", spans)
	}
	for _, name := range []string{"authz.redis GET", "authz.redis SET NX lease", "authz.introspect", "authz.redis SET"} {
		s := otlptest.Named(spans, name)
		if s == nil || string(s.GetParentSpanId()) != string(door.GetSpanId()) {
			t.Errorf("%s is not a child of the door's span (spans %v)", name, spans)
		}
	}
}

// What a dead collector costs is counted by internal/tracing; here, that
// the count reaches /metrics.
func TestDroppedSpansReachTheMetrics(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	cfg := tracingConfig(baseConfig(idp), testsupport.FreeAddr(t))
	cfg.Tracing.ExportTimeout = 200 * time.Millisecond
	h := startWith(t, idp, cfg)
	h.waitServing()
	h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims())), withHeader("traceparent", "00-"+traceID+"-"+parentID+"-01")), "allow", 200)
	testsupport.WaitFor(t, "the failed export on /metrics", func() bool {
		return h.metric(`authz_trace_spans_dropped_total{reason="export_failed"}`) == 1
	})
}

package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testidp"
)

var (
	soakDuration = flag.Duration("soak", 3*time.Second, "how long TestSoak drives load (make soak: a million Checks)")
	soakChecks   = flag.Int("soak-checks", 0, "stop TestSoak after this many Checks instead (0: by -soak)")
)

// soakConfig: a small cache, a small negative cache, and a policy whose
// introspection endpoint is down, for the error outcome.
func soakConfig(idp *testidp.IdP) *config.Config {
	cfg := introspectConfig(idp)
	cfg.Cache.MaxBytes, cfg.Cache.NegativeMaxBytes = 32<<20, 2<<20
	cfg.Introspection[0].Timeout, cfg.Introspection[0].MaxResponseBytes = 0, 0
	cfg.Introspection = append(cfg.Introspection, config.Introspection{
		Name: "dead-introspect", Endpoint: "http://127.0.0.1:1/introspect", ClientID: "authz", ClientSecret: "s3cret", Timeout: 200 * time.Millisecond,
	})
	cfg.Policies = map[string]config.Policy{
		"default": {Validators: []string{"corp", "corp-introspect"}, Headers: map[string]string{"sub": "x-user-id", "scope": "x-scopes"}},
		"broken":  {Validators: []string{"corp", "dead-introspect"}},
	}
	cfg.Log.Level = "error"
	return cfg
}

// TestSoak drives a mix of valid, invalid, missing, IdP-error and random
// junk tokens through the gRPC door, then checks that nothing leaked:
// goroutines return to their level, memory stays bounded by the caches'
// limits, and junk never pushes valid tokens out of the cache.
func TestSoak(t *testing.T) {
	waitsOnClock(t)
	idp := newIdP(t)
	h := startWith(t, idp, soakConfig(idp))
	h.waitServing()

	const pool = 500
	valid := make([]*authv3.CheckRequest, pool)
	validTokens := make([]string, pool)
	expired := make([]*authv3.CheckRequest, pool)
	for i := range pool {
		validTokens[i] = h.mint("ec-1", idp.Claims(fmt.Sprintf("u%d", i), time.Hour, "orders:read", "orders-api"))
		valid[i] = newCheckRequest(withToken(validTokens[i]))
		c := idp.Claims(fmt.Sprintf("x%d", i), -time.Hour, "", "orders-api")
		c["iat"], c["nbf"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
		expired[i] = newCheckRequest(withToken(h.mint("ec-1", c)))
	}
	missing := newCheckRequest()
	broken := newCheckRequest(withToken("op_broken-idp-token"), withPolicy("broken"))

	runtime.GC()
	goroutinesBefore := runtime.NumGoroutine()
	rssBefore := rssMiB()

	type kind struct {
		name string
		want string
	}
	kinds := []kind{{"valid", "allow"}, {"expired", "invalid"}, {"missing", "missing"}, {"idp-error", "error"}, {"junk", "invalid"}}
	var (
		total, rpcErrors atomic.Int64
		wrong            [5]atomic.Int64
		wg               sync.WaitGroup
	)
	deadline := time.Now().Add(*soakDuration)
	if *soakChecks > 0 {
		deadline = time.Now().Add(time.Hour)
	}
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			junk := make([]byte, 24)
			pick := w * 97 // each worker walks the pools from its own place
			for i := w; time.Now().Before(deadline); i++ {
				n := total.Add(1)
				if *soakChecks > 0 && n > int64(*soakChecks) {
					return
				}
				k := i % 10 // 50% valid, 20% junk, 10% each of the rest
				var req *authv3.CheckRequest
				var ki int
				switch {
				case k < 5:
					pick++
					req, ki = valid[pick%pool], 0
				case k == 5:
					pick++
					req, ki = expired[pick%pool], 1
				case k == 6:
					req, ki = missing, 2
				case k == 7:
					req, ki = broken, 3
				default:
					rand.Read(junk)
					req, ki = newCheckRequest(withToken("junk_"+base64.RawURLEncoding.EncodeToString(junk))), 4
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := h.client.Check(ctx, req)
				cancel()
				if err != nil {
					rpcErrors.Add(1)
					continue
				}
				if read(resp).Outcome != kinds[ki].want {
					wrong[ki].Add(1)
				}
			}
		}()
	}
	wg.Wait()

	loadsBefore := h.srv.current().auth.CacheStats().Loads
	for _, tok := range validTokens[:100] {
		h.expect(h.check(withToken(tok)), "allow", 200)
	}
	relearned := h.srv.current().auth.CacheStats().Loads - loadsBefore

	// Idle keep-alive connections to the IdP are a pool, not a leak: close
	// them, then let the gRPC streams wind down.
	for _, in := range h.srv.current().introspectors {
		in.Close()
	}
	var goroutinesAfter int
	for range 50 {
		runtime.GC()
		if goroutinesAfter = runtime.NumGoroutine(); goroutinesAfter <= goroutinesBefore+10 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, neg := h.srv.current().auth.CacheStats(), h.srv.current().auth.NegativeCacheStats()
	rssAfter := rssMiB()
	t.Logf("soak: %d Checks, %d RPC errors; RSS %.0f → %.0f MiB; goroutines %d → %d; cache cost %d KiB (max 32768), negative cost %d KiB (max 2048), %d negative evictions",
		total.Load(), rpcErrors.Load(), rssBefore, rssAfter, goroutinesBefore, goroutinesAfter, st.Cost>>10, neg.Cost>>10, neg.Evictions)

	if rpcErrors.Load() > 0 {
		t.Errorf("%d RPC errors", rpcErrors.Load())
	}
	for i, k := range kinds {
		if n := wrong[i].Load(); n > 0 {
			t.Errorf("%d %s Checks did not get %s", n, k.name, k.want)
		}
	}
	if goroutinesAfter > goroutinesBefore+10 {
		t.Errorf("goroutines grew from %d to %d after the load stopped", goroutinesBefore, goroutinesAfter)
	}
	if st.Cost > 32<<20 || neg.Cost > 2<<20 {
		t.Errorf("cache costs over their bounds: %d, %d", st.Cost, neg.Cost)
	}
	// Both caches together may hold 34 MiB; gRPC buffers, the in-process
	// IdP and GC headroom are the fixed overhead, which the race detector's
	// shadow memory multiplies.
	bound := 34.0 + 128
	if raceEnabled {
		bound *= 2.5
	}
	if grew := rssAfter - rssBefore; grew > bound {
		t.Errorf("RSS grew by %.0f MiB, bound %.0f MiB", grew, bound)
	}
	if relearned > 0 {
		t.Errorf("%d of 100 valid tokens had been pushed out of the cache by junk", relearned)
	}
}

func rssMiB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

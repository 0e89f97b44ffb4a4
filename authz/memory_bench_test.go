package authz_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
)

// opaqueIdP answers like an introspection endpoint, without the network:
// this benchmark measures the cache's memory, not the IdP.
type opaqueIdP struct{}

func (opaqueIdP) Validate(_ context.Context, token string) (*authz.Result, error) {
	claims := map[string]any{
		"active": true, "sub": "user-" + token[len(token)-8:], "client_id": "web-frontend",
		"username": "user" + token[len(token)-8:] + "@example.com", "scope": "orders:read orders:write profile",
		"iss": "https://idp.example.com/", "aud": "orders-api", "token_type": "Bearer",
		"exp": float64(time.Now().Add(time.Hour).Unix()), "iat": float64(time.Now().Unix()),
	}
	return &authz.Result{Validator: "idp", Claims: claims, Expiry: time.Now().Add(time.Hour), Size: authz.ClaimsSize(claims)}, nil
}

// BenchmarkMillionTokens caches 1,000,000 distinct tokens under
// max_bytes 256 MiB and reports the process's RSS: the bound must hold
// whatever the traffic.
func BenchmarkMillionTokens(b *testing.B) {
	for b.Loop() {
		a, err := authz.New(authz.Options{
			Policies:        []*authz.Policy{{Name: authz.DefaultPolicy, TokenSources: []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}}, Validators: []string{"idp"}}},
			NamedValidators: map[string]authz.Validator{"idp": opaqueIdP{}},
			CacheMaxBytes:   256 << 20,
			TTL:             time.Hour,
			NegativeTTL:     time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		h := authz.MapHeader{"authorization": {""}}
		req := &authz.Request{Header: h}
		for i := range 1_000_000 {
			h["authorization"][0] = fmt.Sprintf("Bearer op_%032d", i)
			if d := a.Authorize(ctx, req); d.Outcome != authz.Allow {
				b.Fatal(d.Reason)
			}
		}
		runtime.GC()
		debug.FreeOSMemory()
		st := a.CacheStats()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(rssMiB(), "RSS-MiB")
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "inuse-MiB")
		b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MiB")
		b.ReportMetric(float64(ms.HeapReleased)/(1<<20), "released-MiB")
		b.ReportMetric(float64(st.Cost)/(1<<20), "cost-MiB")
		b.ReportMetric(float64(st.Evictions), "evicted")
		a.Close()
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

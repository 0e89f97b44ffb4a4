package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

func TestAbusiveRequests(t *testing.T) {
	t.Parallel()
	h := start(t)
	tok := h.mint("rsa-1", h.validClaims())
	big := strings.Repeat("a", 64<<10)

	t.Run("a 64 KiB header beside a valid token", func(t *testing.T) {
		h.expect(h.check(withToken(tok), withHeader("x-big", big)), "allow", 200)
	})
	t.Run("a 64 KiB Authorization header", func(t *testing.T) {
		h.expect(h.check(withToken(big)), "invalid", 401)
	})
	t.Run("headers up to the bound, and past it", func(t *testing.T) {
		// newCheckRequest sets a few headers of its own besides these.
		many := func(n int) checkOpt {
			return func(r *authv3.CheckRequest) {
				for i := range n {
					r.Attributes.Request.Http.Headers[fmt.Sprintf("x-h-%d", i)] = "v"
				}
			}
		}
		h.expect(h.check(withToken(tok), many(authz.MaxHeaders-10)), "allow", 200)
		h.expect(h.check(withToken(tok), many(10_000)), "forbidden", 403)
		kv := make([]string, 0, 32_002)
		for i := range 16_000 {
			kv = append(kv, fmt.Sprintf("x-h-%d", i), "v")
		}
		kv = append(kv, "authorization", "Bearer "+tok)
		h.expect(h.check(withHeaderMap(kv...)), "forbidden", 403)
		h.expect(h.check(withHeaderMap(kv[len(kv)-2*(authz.MaxHeaders-10):]...)), "allow", 200)
	})
	t.Run("a 1 MiB token", func(t *testing.T) {
		h.expect(h.check(withToken(strings.Repeat("x", 1<<20))), "invalid", 401)
	})
	t.Run("a JWT with a 1 MiB payload", func(t *testing.T) {
		c := h.validClaims()
		c["pad"] = strings.Repeat("p", 1<<20)
		h.expect(h.check(withToken(h.mint("ec-1", c))), "invalid", 401)
	})
}

func TestChangingKidsKeepJWKSFetchesRateLimited(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
	idp := newIdP(t)
	cfg := baseConfig(idp)
	cfg.Issuers[0].MinRefreshInterval = 100 * time.Millisecond
	h := startWith(t, idp, cfg)
	h.waitServing()
	before := idp.JWKSFetches()
	start := time.Now()
	for i := 0; time.Since(start) < time.Second; i++ {
		stranger, _ := testidp.NewKey(fmt.Sprintf("kid-%d", i), jose.ES256)
		forged, _ := testidp.Sign(stranger, h.validClaims())
		h.expect(h.check(withToken(forged)), "invalid", 401)
	}
	elapsed := time.Since(start)
	allowed := int64(elapsed/(100*time.Millisecond)) + 1
	if got := idp.JWKSFetches() - before; got > allowed {
		t.Errorf("%d JWKS fetches in %v with min_refresh_interval 100ms, want at most %d", got, elapsed, allowed)
	}
}

func TestSlowIdPCannotQueueUnboundedIntrospections(t *testing.T) {
	waitsOnClock(t) // the Checks end by their timeout
	t.Parallel()
	idp := newIdP(t)
	cfg := introspectConfig(idp)
	cfg.Introspection[0].Timeout, cfg.Introspection[0].MaxInFlight = 3*time.Second, 4
	h := startIntrospect(t, idp, cfg)
	const n = 50
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = h.opaque(fmt.Sprintf("slow-%d", i), time.Hour)
	}
	before := idp.Introspections()
	release := idp.Hold() // an IdP that answers nothing in time
	defer release()
	var wg sync.WaitGroup
	outcomes := make(chan string, n)
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := h.client.Check(ctx, newCheckRequest(withToken(tok)))
			if err != nil {
				outcomes <- err.Error()
				return
			}
			outcomes <- read(resp).name
		}()
	}
	// Every Check is in, four hold the slots: however many wait, only
	// max_in_flight requests have reached the IdP.
	testsupport.WaitFor(t, "50 Checks in the server, 4 at the IdP", func() bool {
		return h.metric(`authz_checks_in_flight{door="grpc"}`) == n && h.metric(`authz_idp_requests_in_flight{endpoint="corp-introspect"}`) == 4
	})
	time.Sleep(50 * time.Millisecond) // room for a fifth, were there one
	if got := idp.Introspections() - before; got != 4 {
		t.Errorf("%d introspections reached the held IdP with max_in_flight 4, want 4", got)
	}
	wg.Wait()
	close(outcomes)
	for o := range outcomes {
		if o != "error" {
			t.Errorf("a Check against a saturated IdP got %q, want error", o)
		}
	}
	if !strings.Contains(h.logs.String(), "introspections already in flight") {
		t.Error("saturation is not named in the decision log")
	}
}

package introspect_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/internal/testsupport"
)

// A slow IdP cannot queue unbounded introspections: with max_in_flight 4
// and an IdP that answers nothing in time, 50 Checks of 50 tokens never
// have more than four requests out; the rest wait for a slot no longer
// than the timeout and answer error, naming the saturation.
func TestSlowIdPCannotQueueUnboundedIntrospections(t *testing.T) {
	idp := testsupport.NewIdP(t)
	var inFlight, most atomic.Int64
	c := newIntroCore(t, idp, func(o *introspect.Options) {
		o.Timeout, o.MaxInFlight = time.Second, 4
		o.InFlight = func(d int) {
			n := inFlight.Add(int64(d))
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
		}
	})
	const n = 50
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = c.opaque(fmt.Sprintf("slow-%d", i))
	}
	before := idp.Introspections()
	release := idp.Hold()
	defer release()
	var wg sync.WaitGroup
	decisions := make(chan authz.Decision, n)
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decisions <- c.check(tok)
		}()
	}
	wg.Wait()
	close(decisions)
	saturated := 0
	for d := range decisions {
		if d.Outcome != authz.Error {
			t.Errorf("a Check against a saturated IdP got %v, want error", d.Outcome)
		}
		if strings.Contains(d.Reason, "introspections already in flight") {
			saturated++
		}
	}
	// Never more than four at the IdP at once; a Check refused for want of
	// a slot sent nothing, and some were.
	if most.Load() != 4 {
		t.Errorf("at most %d introspections in flight with max_in_flight 4, want 4", most.Load())
	}
	if got := idp.Introspections() - before; saturated == 0 || got > int64(n-saturated) {
		t.Errorf("%d introspections reached the IdP and %d Checks named the saturation, of %d", got, saturated, n)
	}
}

package introspect_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// How long an introspection answer is believed (moved from the server's
// end-to-end suite): one IdP call for a stampede, the TTL and the token's
// exp bound the cache, a hot token is refreshed ahead, and a JWT asked
// about at the IdP is denied once revoked.

func generous(o *introspect.Options) { o.Timeout = 20 * time.Second }

func withTTL(ttl time.Duration) func(*authz.Options) {
	return func(o *authz.Options) { o.TTL = ttl }
}

func (c introCore) outcome(tok string) authz.Outcome { return c.check(tok).Outcome }

func TestIntrospectionStampedeAsksOnceAndTheTTLBoundsTheAnswer(t *testing.T) {
	t.Parallel()
	idp := testsupport.NewIdP(t)
	const ttl = 2 * time.Second
	c := newIntroCore(t, idp, generous, withTTL(ttl))
	tok := c.opaque("ivan")
	// The IdP answers only once every Check waits on the first one's
	// question, however slow the machine.
	release := idp.Hold()
	defer release()
	const n = 1000
	outcomes := make([]authz.Outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); outcomes[i] = c.outcome(tok) }()
	}
	testsupport.WaitFor(t, fmt.Sprint(n, " Checks in the flight"), func() bool { return c.CacheStats().Waiting >= n })
	release()
	wg.Wait()
	judged := time.Now()
	for i, o := range outcomes {
		if o != authz.Allow {
			t.Fatalf("Check %d: %v", i, o)
		}
	}
	if got := idp.Introspections(); got != 1 {
		t.Errorf("%d introspections for %d concurrent Checks of one new token, want 1", got, n)
	}
	if c.outcome(tok) != authz.Allow || idp.Introspections() != 1 {
		t.Errorf("a Check within the TTL asked the IdP (%d requests)", idp.Introspections())
	}
	time.Sleep(time.Until(judged.Add(ttl + 100*time.Millisecond)))
	if o := c.outcome(tok); o != authz.Allow || idp.Introspections() != 2 {
		t.Errorf("after the TTL: %v with %d requests, want allow with 2", o, idp.Introspections())
	}
}

func TestIntrospectionExpBoundsTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test waits on a token's real exp")
	}
	t.Parallel()
	idp := testsupport.NewIdP(t)
	// exp 4-5 s out: a loaded machine must not let it pass before the
	// second Check.
	c := newIntroCore(t, idp, generous) // cache TTL 30s
	exp := time.Now().Add(4 * time.Second).Truncate(time.Second).Add(time.Second)
	claims := idp.Claims("judy", time.Hour, "orders:read", "orders-api")
	claims["exp"] = exp.Unix()
	tok := idp.IssueOpaque(claims)
	for i := range 2 {
		if o := c.outcome(tok); o != authz.Allow {
			t.Fatalf("Check %d before exp: %v", i+1, o)
		}
	}
	if got := idp.Introspections(); got != 1 {
		t.Fatalf("%d introspections for two Checks, want 1 (the second from the cache)", got)
	}
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	if o := c.outcome(tok); o != authz.Invalid || idp.Introspections() != 2 {
		t.Errorf("after exp: %v with %d introspections, want invalid with 2 (the cache must not answer)", o, idp.Introspections())
	}
	// An IdP that says active for a token whose exp has passed is not believed.
	idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: fmt.Sprintf(`{"active":true,"sub":"kim","exp":%d}`, time.Now().Add(-time.Minute).Unix())})
	if o := c.outcome("op_stale"); o != authz.Invalid {
		t.Errorf("active with a past exp: %v, want invalid", o)
	}
}

// A hot token is refreshed ahead of expiry: Checks keep the cached answer
// while the one refresh asks the IdP, and an inactive answer replaces it.
func TestHotTokenIsRefreshedAhead(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test waits on real TTLs")
	}
	t.Parallel()
	idp := testsupport.NewIdP(t)
	const ttl = 2 * time.Second
	refreshed := make(chan error, 16)
	c := newIntroCore(t, idp, func(o *introspect.Options) { o.Timeout = 3 * time.Second }, func(o *authz.Options) {
		o.TTL, o.RefreshAhead = ttl, 0.5
		o.OnRefresh = func(err error) { refreshed <- err }
	})
	tok := c.opaque("hana")
	if o := c.outcome(tok); o != authz.Allow {
		t.Fatalf("first Check: %v", o)
	}
	expires := time.Now().Add(ttl)           // no earlier than this
	time.Sleep(ttl/2 + 100*time.Millisecond) // into the last half of the TTL
	idp.SetDelay(300 * time.Millisecond)
	for range 20 {
		if d := c.check(tok); d.Outcome != authz.Allow || coretest.HeaderValue(d, "x-user-id") != "hana" {
			t.Fatalf("during the refresh: %v, x-user-id %q", d.Outcome, coretest.HeaderValue(d, "x-user-id"))
		}
	}
	select {
	case err := <-refreshed:
		if err != nil {
			t.Fatalf("the refresh: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh ahead of expiry")
	}
	idp.SetDelay(0)
	// Past the first answer's TTL, with the IdP down: the refreshed answer
	// serves; without the refresh this Check would be an error.
	idp.SetDown(true)
	time.Sleep(time.Until(expires) + 100*time.Millisecond)
	if o := c.outcome(tok); o != authz.Allow {
		t.Errorf("past the first TTL with the IdP down: %v, want the refreshed allow", o)
	}
	idp.SetDown(false)
	if got := idp.Introspections(); got != 2 {
		t.Errorf("%d introspections for a hot token across its expiry, want 2 (the first and the refresh)", got)
	}
	if n := len(refreshed); n != 0 {
		t.Errorf("%d more refreshes, want the one", n)
	}

	// Revoked at the IdP: the next refresh's active:false takes effect at once.
	idp.Revoke(tok)
	time.Sleep(ttl/2 + 100*time.Millisecond)
	c.outcome(tok) // starts the refresh
	for deadline := time.Now().Add(3 * time.Second); c.outcome(tok) != authz.Invalid; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an inactive answer from a refresh did not replace the cached allow")
		}
	}
}

// A JWT of an issuer with introspect: is asked about at the IdP once per
// cache entry; revoked, it is denied when its entry expires, and an answer
// about another token is an error, never an allow under the JWT's claims.
type jwtCore struct {
	introCore
}

func newJWTCore(t *testing.T, idp *testidp.IdP, ttl time.Duration) jwtCore {
	t.Helper()
	keys, err := jwt.NewKeys(jwt.KeysOptions{URL: idp.JWKSURL(), Issuer: idp.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keys.Close)
	<-keys.Ready()
	c := newIntroCore(t, idp, nil, withTTL(ttl), func(o *authz.Options) {
		iss, err := jwt.NewIssuer(jwt.IssuerOptions{Name: "corp", Issuer: idp.Issuer(), Algorithms: []jose.SignatureAlgorithm{jose.RS256, jose.ES256},
			Audiences: []string{"orders-api"}, Keys: keys, Introspect: o.NamedValidators["corp-introspect"]})
		if err != nil {
			t.Fatal(err)
		}
		o.JWT, _ = jwt.NewSet(iss)
		o.Policies[0].Validators = []string{"corp"}
	})
	return jwtCore{c}
}

func (c jwtCore) mint(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	tok, err := c.idp.Mint(kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRevokedJWTIsDeniedAfterItsCachedResultExpires(t *testing.T) {
	t.Parallel()
	idp := testsupport.NewIdP(t)
	c := newJWTCore(t, idp, time.Second)
	valid := func() map[string]any { return idp.Claims("alice", time.Hour, "orders:read", "orders-api") }
	tok := c.mint(t, "rsa-1", valid())
	if o := c.outcome(tok); o != authz.Allow || idp.Introspections() != 1 {
		t.Fatalf("a JWT of an issuer with introspect: %v after %d introspections, want allow after 1", o, idp.Introspections())
	}
	idp.Revoke(tok) // global logout
	if o := c.outcome(tok); o != authz.Allow {
		t.Errorf("within the TTL: %v, want the cached allow", o)
	}
	time.Sleep(1100 * time.Millisecond)
	if o := c.outcome(tok); o != authz.Invalid {
		t.Errorf("revoked, past the TTL: %v, want invalid", o)
	}
	// An IdP failure during that introspection is an error, not an allow.
	idp.SetDown(true)
	if o := c.outcome(c.mint(t, "ec-1", valid())); o != authz.Error {
		t.Errorf("IdP down: %v, want error", o)
	}
}

func TestAnIntrospectionAnswerAboutAnotherTokenIsAnError(t *testing.T) {
	t.Parallel()
	idp := testsupport.NewIdP(t)
	c := newJWTCore(t, idp, 30*time.Second)
	exp := time.Now().Add(time.Hour).Unix()
	for name, answer := range map[string]string{
		"another sub": fmt.Sprintf(`{"active":true,"sub":"bob","exp":%d}`, exp),
		"another jti": fmt.Sprintf(`{"active":true,"sub":"alice","jti":"someone-elses","exp":%d}`, exp),
	} {
		idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: answer})
		claims := idp.Claims("alice", time.Hour, "orders:read", "orders-api")
		claims["jti"] = "mine-" + strings.ReplaceAll(name, " ", "-")
		if o := c.outcome(c.mint(t, "rsa-1", claims)); o != authz.Error {
			t.Errorf("%s: %v, want error", name, o)
		}
	}
	idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: fmt.Sprintf(`{"active":true,"sub":"alice","exp":%d}`, exp)})
	if o := c.outcome(c.mint(t, "rsa-1", idp.Claims("alice", time.Hour, "orders:read", "orders-api"))); o != authz.Allow {
		t.Errorf("an answer about this token: %v, want allow", o)
	}
}

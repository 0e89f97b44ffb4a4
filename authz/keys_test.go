package authz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// A Check's contracts with an issuer's key set: rotation, outages, the
// sources keys come from, one verification per new token, and exp. The
// server's suite keeps what a listener adds (readiness and the status).

// anyKidRefreshes lets every unknown kid fetch the key set at once, so a
// test need not wait out the refresh rate limit.
func anyKidRefreshes(o *jwt.KeysOptions) { o.MinRefresh = time.Nanosecond }

func TestAKeyRotatedInIsFetchedForItsFirstToken(t *testing.T) {
	t.Parallel()
	for kid, alg := range map[string]jose.SignatureAlgorithm{"ed-1": jose.EdDSA, "rsa-2": jose.RS256} {
		t.Run(kid, func(t *testing.T) {
			c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Keys: anyKidRefreshes})
			<-c.Keys.Ready()
			key, err := testidp.NewKey(kid, alg)
			if err != nil {
				t.Fatal(err)
			}
			c.IdP.AddKey(key)
			if d := c.Decide("", coretest.Bearer(c.MintKid(t, kid, c.Valid()))); d.Outcome != authz.Allow {
				t.Errorf("a token of the rotated-in key %s: %v (%s)", kid, d.Outcome, d.Reason)
			}
		})
	}
}

func TestRandomKidsCannotFloodTheJWKS(t *testing.T) {
	t.Parallel()
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Keys: func(o *jwt.KeysOptions) { o.MinRefresh = time.Hour }})
	<-c.Keys.Ready()
	before := c.IdP.JWKSFetches()
	for i := range 50 {
		stranger, _ := testidp.NewKey(fmt.Sprintf("random-%d", i), jose.ES256)
		tok, _ := testidp.Sign(stranger, c.Valid())
		if d := c.Decide("", coretest.Bearer(tok)); d.Outcome != authz.Invalid {
			t.Fatalf("a token of an unknown key: %v (%s)", d.Outcome, d.Reason)
		}
	}
	if got := c.IdP.JWKSFetches() - before; got != 0 {
		t.Errorf("50 unknown kids within the refresh rate limit caused %d JWKS fetches, want 0", got)
	}
}

func TestKeysOutliveTheJWKSGoingDown(t *testing.T) {
	t.Parallel()
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Keys: func(o *jwt.KeysOptions) { o.Refresh = 20 * time.Millisecond }})
	<-c.Keys.Ready()
	c.IdP.SetDown(true)
	before := c.IdP.JWKSFetches()
	for deadline := time.Now().Add(5 * time.Second); c.IdP.JWKSFetches() < before+2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no failed refresh happened")
		}
	}
	if d := c.Decide("", coretest.Bearer(c.MintKid(t, "ec-1", c.Valid()))); d.Outcome != authz.Allow {
		t.Errorf("after failed refreshes: %v (%s), want the keys loaded before", d.Outcome, d.Reason)
	}
}

// No keys ever loaded is the authorizer's failure, not the token's: error,
// and never cached, so the next Check asks again.
func TestNoKeysEverIsAnErrorNeverCached(t *testing.T) {
	t.Parallel()
	dead := testsupport.NewIdP(t)
	deadURL := dead.JWKSURL()
	dead.Close()
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Keys: func(o *jwt.KeysOptions) { o.URL = deadURL }})
	tok := c.MintKid(t, "rsa-1", c.Valid())
	for i := range 2 {
		if d := c.Decide("", coretest.Bearer(tok)); d.Outcome != authz.Error {
			t.Fatalf("Check %d with no keys: %v (%s), want error", i+1, d.Outcome, d.Reason)
		}
	}
	if loads := c.CacheStats().Loads; loads != 2 {
		t.Errorf("validations = %d, want 2 (errors are not cached)", loads)
	}
}

func TestKeySources(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		keys func(o *jwt.KeysOptions, file string)
		down bool
	}{
		"a file while the URL is down": {keys: func(o *jwt.KeysOptions, file string) { o.File = file }, down: true},
		"a file alone":                 {keys: func(o *jwt.KeysOptions, file string) { o.URL, o.File = "", file }},
		"oidc discovery":               {keys: func(o *jwt.KeysOptions, _ string) { o.URL, o.Discovery = "", true }},
	} {
		t.Run(name, func(t *testing.T) {
			idp := testsupport.NewIdP(t)
			file := writeKeySet(t, idp)
			idp.SetDown(tc.down)
			c := coretest.NewWith(t, idp, coretest.Setup{Keys: func(o *jwt.KeysOptions) { tc.keys(o, file) }})
			select {
			case <-c.Keys.Ready():
			case <-time.After(10 * time.Second):
				t.Fatal("no key set loaded")
			}
			if d := c.Decide("", coretest.Bearer(c.MintKid(t, "rsa-1", c.Valid()))); d.Outcome != authz.Allow {
				t.Errorf("%v (%s)", d.Outcome, d.Reason)
			}
		})
	}
}

func writeKeySet(t *testing.T, idp *testidp.IdP) string {
	t.Helper()
	set, err := json.Marshal(idp.KeySet())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, set, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// Checks of one new token that arrive while it is being judged share that
// judgement: one key-set fetch and one signature verification, whatever
// their number. The IdP answers only once every Check is waiting, so this
// holds however slow the machine.
func TestConcurrentChecksOfOneNewTokenVerifyOnce(t *testing.T) {
	var verifications atomic.Int64
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{
		Keys:     func(o *jwt.KeysOptions) { anyKidRefreshes(o); o.Timeout = 20 * time.Second },
		OnVerify: func() { verifications.Add(1) },
	})
	<-c.Keys.Ready()
	key, _ := testidp.NewKey("rotated", jose.RS256)
	c.IdP.AddKey(key)
	release := c.IdP.Hold()
	defer release()
	tok := c.MintKid(t, "rotated", c.Valid())
	fetches := c.IdP.JWKSFetches()
	const n = 1000
	outcomes := make([]authz.Outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i] = c.Authorize(context.Background(), &authz.Request{Method: "GET", Host: "shop.example", Path: "/orders/1", Header: coretest.Bearer(tok)}).Outcome
		}()
	}
	testsupport.WaitFor(t, fmt.Sprint(n, " Checks in the flight"), func() bool { return c.CacheStats().Waiting >= n })
	release()
	wg.Wait()
	for i, o := range outcomes {
		if o != authz.Allow {
			t.Fatalf("Check %d: %v", i, o)
		}
	}
	if got := verifications.Load(); got != 1 {
		t.Errorf("%d signature verifications for %d concurrent Checks of one token, want 1", got, n)
	}
	if got := c.IdP.JWKSFetches() - fetches; got != 1 {
		t.Errorf("%d JWKS fetches, want 1", got)
	}
	if st := c.CacheStats(); st.Collapsed < n/2 {
		t.Errorf("only %d of %d Checks shared the in-flight validation", st.Collapsed, n)
	}
}

func TestCacheNeverServesAfterExp(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test waits on a token's real exp")
	}
	t.Parallel()
	c := coretest.New(t)
	claims := c.Valid()
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	claims["exp"] = exp.Unix()
	tok := c.MintKid(t, "rsa-1", claims)
	for i := range 2 {
		if d := c.Decide("", coretest.Bearer(tok)); d.Outcome != authz.Allow {
			t.Fatalf("Check %d before exp: %v (%s)", i+1, d.Outcome, d.Reason)
		}
	}
	if st := c.CacheStats(); st.Loads != 1 {
		t.Fatalf("loads = %d, want 1 (the second Check from the cache)", st.Loads)
	}
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	if d := c.Decide("", coretest.Bearer(tok)); d.Outcome != authz.Invalid {
		t.Errorf("after exp: %v (%s), want invalid", d.Outcome, d.Reason)
	}
}

// Leeway applies to exp: a token expired within it is allowed, and its
// result cached; one expired beyond it is invalid.
func TestLeewayAppliesToExp(t *testing.T) {
	var verifications atomic.Int64
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{
		Issuer:   func(o *jwt.IssuerOptions) { o.Leeway = time.Minute },
		OnVerify: func() { verifications.Add(1) },
	})
	<-c.Keys.Ready()
	late := c.Mint(t, c.IdP.Claims("late", -10*time.Second, "orders:read", "orders-api"))
	for i := range 2 {
		if d := c.Decide("", coretest.Bearer(late)); d.Outcome != authz.Allow {
			t.Fatalf("Check %d, expired 10 s ago with a minute's leeway: %v (%s)", i+1, d.Outcome, d.Reason)
		}
	}
	if got := verifications.Load(); got != 1 {
		t.Errorf("a token within leeway was verified %d times, want 1 (the second from the cache)", got)
	}
	if d := c.Decide("", coretest.Bearer(c.Mint(t, c.IdP.Claims("later", -61*time.Second, "", "orders-api")))); d.Outcome != authz.Invalid {
		t.Errorf("expired 61 s ago: %v, want invalid", d.Outcome)
	}
}

// An issuer that requires typ at+jwt (RFC 9068 §4) refuses a plain JWT,
// and takes the media-type spelling, application/at+jwt (RFC 7515 §4.1.9).
func TestRequiredTypeIsEnforced(t *testing.T) {
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Issuer: func(o *jwt.IssuerOptions) { o.RequireType = "at+jwt" }})
	<-c.Keys.Ready()
	key, _ := c.IdP.SigningKey("rsa-1")
	for typ, want := range map[string]authz.Outcome{"JWT": authz.Invalid, "at+jwt": authz.Allow, "application/at+jwt": authz.Allow} {
		tok, err := testidp.SignTyped(key, typ, c.Valid())
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Decide("", coretest.Bearer(tok)); d.Outcome != want {
			t.Errorf("typ %s: %v (%s), want %v", typ, d.Outcome, d.Reason, want)
		}
	}
}

// Changing kids over a second refresh the key set no more often than the
// rate limit allows.
func TestChangingKidsKeepJWKSFetchesRateLimited(t *testing.T) {
	t.Parallel()
	c := coretest.NewWith(t, testsupport.NewIdP(t), coretest.Setup{Keys: func(o *jwt.KeysOptions) { o.MinRefresh = 100 * time.Millisecond }})
	<-c.Keys.Ready()
	before := c.IdP.JWKSFetches()
	start := time.Now()
	for i := 0; time.Since(start) < time.Second; i++ {
		stranger, _ := testidp.NewKey(fmt.Sprintf("kid-%d", i), jose.ES256)
		forged, _ := testidp.Sign(stranger, c.Valid())
		if d := c.Decide("", coretest.Bearer(forged)); d.Outcome != authz.Invalid {
			t.Fatalf("a token of an unknown key: %v (%s)", d.Outcome, d.Reason)
		}
	}
	elapsed := time.Since(start)
	allowed := int64(elapsed/(100*time.Millisecond)) + 1
	if got := c.IdP.JWKSFetches() - before; got > allowed {
		t.Errorf("%d JWKS fetches in %v with a 100ms refresh limit, want at most %d", got, elapsed, allowed)
	}
}

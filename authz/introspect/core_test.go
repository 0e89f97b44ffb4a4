package introspect_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/authz/introspect"
	"github.com/authz-dev/authz/internal/coretest"
	"github.com/authz-dev/authz/internal/testidp"
	"github.com/authz-dev/authz/internal/testsupport"
)

// RFC 7662 as the core runs it on a Check (moved from the server's
// end-to-end suite): a real introspection client against the test IdP,
// which speaks the RFC and refuses callers that do not.

type introCore struct {
	*authz.Authorizer
	idp *testidp.IdP
}

// newIntroCore builds the core over one introspection client; edit tunes
// the client, tune the core (its cache, a JWT issuer asking the client).
func newIntroCore(t *testing.T, idp *testidp.IdP, edit func(*introspect.Options), tune ...func(*authz.Options)) introCore {
	t.Helper()
	opts := introspect.Options{Name: "corp-introspect", Endpoint: idp.IntrospectionURL(), ClientID: "authz", ClientSecret: "s3cret",
		Timeout: 500 * time.Millisecond, MaxResponseBytes: 4096}
	if edit != nil {
		edit(&opts)
	}
	client, err := introspect.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	ao := authz.Options{CacheMaxBytes: 4 << 20, TTL: 30 * time.Second, NegativeTTL: 5 * time.Second,
		NamedValidators: map[string]authz.Validator{"corp-introspect": client},
		Policies: []*authz.Policy{{Name: authz.DefaultPolicy, TokenSources: []authz.TokenSource{{Header: "authorization", Scheme: "Bearer"}},
			Validators: []string{"corp-introspect"}, MaxHeaderBytes: 4096, HeaderSeparator: ",",
			Headers: []authz.ClaimHeader{{Claim: "sub", Header: "x-user-id"}, {Claim: "username", Header: "x-username"}, {Claim: "scope", Header: "x-scopes"}, {Claim: "client_id", Header: "x-client-id"}}}},
	}
	for _, f := range tune {
		f(&ao)
	}
	a, err := authz.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return introCore{a, idp}
}

func (c introCore) opaque(sub string) string {
	claims := c.idp.Claims(sub, time.Hour, "orders:read", "orders-api")
	claims["username"] = sub + "@example.com"
	return c.idp.IssueOpaque(claims)
}

func (c introCore) check(tok string) authz.Decision {
	return c.Authorize(context.Background(), &authz.Request{Method: "GET", Host: "shop.example", Path: "/orders/1", Header: authz.MapHeader{"authorization": {"Bearer " + tok}}})
}

// active: allow with the answer's claims as headers; inactive or never
// issued: invalid; and the IdP saw nothing the RFC does not allow.
func TestIntrospectionActiveAndInactive(t *testing.T) {
	c := newIntroCore(t, testsupport.NewIdP(t), nil)
	d := c.check(c.opaque("carol"))
	for k, v := range map[string]string{"x-user-id": "carol", "x-username": "carol@example.com", "x-scopes": "orders:read", "x-client-id": "demo-client"} {
		if got := coretest.HeaderValue(d, k); d.Outcome != authz.Allow || got != v {
			t.Errorf("%s = %q (%v), want %q", k, got, d.Outcome, v)
		}
	}
	revoked := c.opaque("dave")
	c.idp.Revoke(revoked)
	for name, tok := range map[string]string{"revoked": revoked, "never issued": "op_never-issued"} {
		if d := c.check(tok); d.Outcome != authz.Invalid {
			t.Errorf("%s: %v", name, d.Outcome)
		}
	}
	if errs := c.idp.ProtocolErrors(); len(errs) > 0 {
		t.Errorf("the IdP saw protocol errors: %v", errs)
	}
}

// Every way the IdP fails is the error outcome — no challenge for the
// client — and is never cached: the next Check asks again; recovered, the
// IdP's answer allows.
func TestIntrospectionFailuresAreErrorsNeverCached(t *testing.T) {
	idp := testsupport.NewIdP(t)
	c := newIntroCore(t, idp, nil)
	tok := c.opaque("erin")
	for name, setup := range map[string]func(){
		"idp down (503)":            func() { idp.SetDown(true) },
		"idp slow past the timeout": func() { idp.SetDelay(time.Second) },
		"500":                       func() { idp.SetAnswer(&testidp.Answer{Status: 500, Body: "oops"}) },
		"502":                       func() { idp.SetAnswer(&testidp.Answer{Status: 502, Body: "bad gateway"}) },
		"429":                       func() { idp.SetAnswer(&testidp.Answer{Status: 429, Body: `{"error":"slow_down"}`}) },
		"401 bad client secret": func() {
			idp.SetClient(testidp.ClientAuth{Method: "client_secret_basic", ClientID: "authz", Secret: "rotated"})
		},
		"non-JSON": func() {
			idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "text/html", Body: "<html>login</html>"})
		},
		"JSON without active": func() {
			idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"sub":"erin"}`})
		},
		"active as a string": func() {
			idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"active":"true","sub":"erin"}`})
		},
		"JSON array": func() {
			idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `[{"active":true}]`})
		},
		"body over the bound": func() {
			idp.SetAnswer(&testidp.Answer{Status: 200, ContentType: "application/json", Body: `{"active":true,"pad":"` + strings.Repeat("x", 5000) + `"}`})
		},
	} {
		setup()
		for i := range 2 {
			before := idp.Introspections()
			d := c.check(tok)
			if d.Outcome != authz.Error || c.Answers().Status(d.Outcome) != 503 || c.Answers().WWWAuthenticate(&d) != "" {
				t.Errorf("%s, check %d: %v, challenge %q; want error, none", name, i, d.Outcome, c.Answers().WWWAuthenticate(&d))
			}
			if got := idp.Introspections() - before; got != 1 {
				t.Errorf("%s, check %d asked the IdP %d times, want 1 (errors are never cached)", name, i, got)
			}
		}
		idp.SetDown(false)
		idp.SetDelay(0)
		idp.SetAnswer(nil)
		idp.SetClient(testidp.ClientAuth{Method: "client_secret_basic", ClientID: "authz", Secret: "s3cret"})
	}
	if d := c.check(tok); d.Outcome != authz.Allow {
		t.Errorf("the IdP recovered: %v (%s)", d.Outcome, d.Reason)
	}
}

// RFC 6749 §2.3.1's client authentication, as the IdP checks it: Basic
// with form-urlencoded id and secret, the secret in the form, or a bearer
// token.
func TestIntrospectionClientAuthMethods(t *testing.T) {
	for name, c := range map[string]struct {
		auth                     testidp.ClientAuth
		method, clientID, secret string
	}{
		"client_secret_basic": {testidp.ClientAuth{Method: "client_secret_basic", ClientID: "authz:svc", Secret: "p@ss w/rd%+:"}, "client_secret_basic", "authz:svc", "p@ss w/rd%+:"},
		"client_secret_post":  {testidp.ClientAuth{Method: "client_secret_post", ClientID: "authz", Secret: "p@ss w/rd"}, "client_secret_post", "authz", "p@ss w/rd"},
		"bearer":              {testidp.ClientAuth{Method: "bearer", Secret: "static-token-123"}, "bearer", "", "static-token-123"},
	} {
		idp := testsupport.NewIdP(t)
		idp.SetClient(c.auth)
		core := newIntroCore(t, idp, func(o *introspect.Options) { o.AuthMethod, o.ClientID, o.ClientSecret = c.method, c.clientID, c.secret })
		if d := core.check(core.opaque("gina")); d.Outcome != authz.Allow {
			t.Errorf("%s: %v (%s); idp errors %v", name, d.Outcome, d.Reason, idp.ProtocolErrors())
		}
		if errs := idp.ProtocolErrors(); len(errs) > 0 {
			t.Errorf("%s: the IdP saw protocol errors: %v", name, errs)
		}
	}
}

// An answer about a refresh or ID token is invalid: only access tokens
// pass, by the members real IdPs use (Hydra's token_use, Keycloak's typ,
// token_type), and the accepted values are configurable.
func TestIntrospectionRefusesRefreshTokens(t *testing.T) {
	idp := testsupport.NewIdP(t)
	c := newIntroCore(t, idp, nil)
	issue := func(member, value string) string {
		claims := idp.Claims("rex", time.Hour, "orders:read", "orders-api")
		claims[member] = value
		return idp.IssueOpaque(claims)
	}
	for _, tc := range []struct {
		member, value string
		want          authz.Outcome
	}{
		{"token_use", "refresh_token", authz.Invalid}, // Hydra
		{"typ", "Refresh", authz.Invalid},             // Keycloak
		{"token_type", "refresh_token", authz.Invalid},
		{"typ", "ID", authz.Invalid},
		{"token_use", "access_token", authz.Allow},
		{"token_type", "Bearer", authz.Allow},
	} {
		if d := c.check(issue(tc.member, tc.value)); d.Outcome != tc.want {
			t.Errorf("%s=%s: %v (%s), want %v", tc.member, tc.value, d.Outcome, d.Reason, tc.want)
		}
	}
	configured := newIntroCore(t, idp, func(o *introspect.Options) { o.TokenTypes = []string{"access_token", "service"} })
	for value, want := range map[string]authz.Outcome{"service": authz.Allow, "Bearer": authz.Invalid} {
		if d := configured.check(issue("token_type", value)); d.Outcome != want {
			t.Errorf("token_types [access_token service], token_type %s: %v, want %v", value, d.Outcome, want)
		}
	}
}

// An exp that is not a number is a broken answer: an error, not an answer
// cached for the full TTL.
func TestIntrospectionNonNumericExpIsError(t *testing.T) {
	idp := testsupport.NewIdP(t)
	c := newIntroCore(t, idp, nil)
	claims := idp.Claims("eve", time.Hour, "orders:read", "orders-api")
	claims["exp"] = "tomorrow"
	if d := c.check(idp.IssueOpaque(claims)); d.Outcome != authz.Error {
		t.Errorf("exp \"tomorrow\": %v (%s), want error", d.Outcome, d.Reason)
	}
}
